"""Operations: health, readiness, metrics, request context, configuration checks, doctor, secrets."""
