"""The New broadcast form says what is missing in its own words (dashboard/broadcast_form.py)."""

import re

from wacast.dashboard.broadcast_form import field_label, problem_in_words


def test_field_paths_are_named_as_the_form_names_them():
    assert field_label("params[0]", ["1", "2"]) == "Parameter {{1}}"
    assert field_label("params[1]", ["first_name", "city"]) == "Parameter {{city}}"
    assert field_label("params.city", []) == "Parameter {{city}}"
    assert field_label("params[0].fallback", ["1"]) == "The fallback of parameter {{1}}"
    assert field_label("params[7]", ["1"]) == "Parameter {{8}}"  # beyond the known list: its position
    assert field_label("buttons.0", []) == "The link ending of button 1"
    assert field_label("buttons.1.fallback", []) == "The fallback of the link ending of button 2"
    assert field_label("media.url", []) == "The header media's URL"
    assert field_label("location.latitude", []) == "The header location"
    assert field_label("mystery", []) == "mystery"


def test_each_problem_says_what_to_do_and_carries_no_code():
    empty = problem_in_words("PARAM_EMPTY", "params[0] is empty", {"field": "params[0]"}, ["1", "2"])
    assert empty == "Parameter {{1}} has no value yet: pick a contact attribute or type a fixed text."
    button = problem_in_words("BUTTON_PARAM_MISSING", "Button at index 0 of type Url requires a parameter", {"field": "buttons.0", "type": "url"}, [])
    assert button == "The link ending of button 1 is needed: pick a contact attribute or type the end of the link."
    assert problem_in_words("MEDIA_URL_MISSING", "Media URL Missing", {"field": "media.url", "header": "IMAGE"}, []) == \
        "This template has an image header: give the URL of the image to send."
    assert problem_in_words("MEDIA_URL_MISSING", "Media URL Missing", {"header": "DOCUMENT"}, []) == \
        "This template has a document header: give the URL of the document to send."
    assert "latitude and longitude" in problem_in_words("LOCATION_MISSING", "Location Missing", {"field": "location"}, [])
    assert problem_in_words("TEMPLATE_PARAMS_MISMATCH", "Template params does not match the campaign",
                            {"field": "params", "expected": 2, "given": 1}, []) == "The template takes 2 parameters; 1 is mapped."
    unresolved = problem_in_words("PARAM_UNRESOLVED", "no value for {{1}} ($city)", None, ["1"])
    assert unresolved == "The sample contact has no value for {{1}} ($city): add a fallback for contacts without it, or pick another attribute."
    invalid = problem_in_words("FIELD_INVALID", "params[1].fallback must be a string", {"field": "params[1].fallback"}, ["1", "2"])
    assert invalid == "The fallback of parameter {{2}} must be a string."
    assert problem_in_words("SEGMENT_NOT_FOUND", "Choose a segment or upload a CSV", {"field": "segment"}, []) == "Choose a segment or upload a CSV."
    for words in (empty, button, unresolved, invalid):
        assert not re.search(r"[A-Z]+_[A-Z_]+|params\[|buttons\.", words), words
