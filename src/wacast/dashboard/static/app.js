// wacast dashboard: copy buttons, live refresh, the API key in example requests, import progress.
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    var area = document.createElement("textarea");
    area.value = text;
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } finally { document.body.removeChild(area); }
    return Promise.resolve();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    event.preventDefault();
    var source = document.getElementById(button.getAttribute("data-copy"));
    var text = source ? (source.value !== undefined && source.tagName !== "PRE" ? source.value : source.textContent) : "";
    copyText(text).then(function () {
      var label = button.textContent;
      button.textContent = "Copied";
      button.setAttribute("data-copied", "1");
      setTimeout(function () { button.textContent = label; }, 1600);
    });
  });

  // The menu on a phone: folded into a bar, opened and closed by its button.
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("#menu-toggle");
    if (!toggle) return;
    var shell = toggle.closest(".shell");
    var open = !shell.classList.contains("nav-open");
    shell.classList.toggle("nav-open", open);
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });

  // Auto-submitting selects (project switcher, filters).
  document.addEventListener("change", function (event) {
    if (!event.target.matches("[data-autosubmit]")) return;
    var ask = event.target.getAttribute("data-confirm-change");
    // A change that matters (a member's role) is asked about first; "no" puts it back.
    if (ask && !window.confirm(ask.replace("%s", event.target.value))) {
      event.target.value = event.target.getAttribute("data-was");
      return;
    }
    event.target.form.submit();
  });

  // Confirm destructive actions.
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  });

  // Live refresh: regions marked data-live are replaced with the same region of a fresh copy
  // of the page every few seconds (no build step, no framework).
  var live = document.querySelectorAll("[data-live]");
  if (live.length) {
    var every = parseInt(document.body.getAttribute("data-refresh") || "3000", 10);
    setInterval(function () {
      if (document.hidden) return;
      fetch(window.location.href, { headers: { "X-Live": "1" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) return;
          var fresh = new DOMParser().parseFromString(html, "text/html");
          document.querySelectorAll("[data-live]").forEach(function (node) {
            var id = node.getAttribute("data-live");
            var next = fresh.querySelector('[data-live="' + id + '"]');
            if (next && next.innerHTML !== node.innerHTML && !node.contains(document.activeElement)) node.innerHTML = next.innerHTML;
          });
        })
        .catch(function () {});
    }, every);
  }

  // Example requests: the API key typed (or just created in this tab) goes into curl and JSON.
  var keyInput = document.getElementById("api-key-input");
  function applyKey() {
    var key = (keyInput.value || "").trim() || "YOUR_API_KEY";
    document.querySelectorAll("[data-template]").forEach(function (node) {
      node.textContent = node.getAttribute("data-template").split("YOUR_API_KEY").join(key);
    });
  }
  if (keyInput) {
    var remembered = sessionStorage.getItem("wacast.newKey");
    if (remembered && !keyInput.value) keyInput.value = remembered;
    keyInput.addEventListener("input", applyKey);
    applyKey();
  }
  var fresh = document.getElementById("new-key");
  if (fresh) sessionStorage.setItem("wacast.newKey", fresh.textContent.trim());

  // CSV import: upload with a progress bar, then follow the import's own progress.
  var importForm = document.getElementById("import-form");
  if (importForm) {
    importForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var bar = document.getElementById("upload-bar");
      var label = document.getElementById("upload-label");
      document.getElementById("upload-progress").hidden = false;
      var xhr = new XMLHttpRequest();
      xhr.open("POST", importForm.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) {
          var p = Math.round(100 * e.loaded / e.total);
          bar.style.width = p + "%";
          label.textContent = "Uploading… " + p + "%";
        }
      };
      xhr.onload = function () {
        if (xhr.status === 201) {
          window.location.href = JSON.parse(xhr.responseText).url;
        } else {
          window.location.reload();  // the error is shown on the page
        }
      };
      xhr.send(new FormData(importForm));
    });
  }

  var progress = document.getElementById("import-progress");
  if (progress) {
    var url = progress.getAttribute("data-status-url");
    var poll = function () {
      fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (s) {
        document.getElementById("import-bar").style.width = s.percent + "%";
        document.getElementById("import-count").textContent = s.processed_rows + " of " + s.total_rows + " rows";
        document.getElementById("import-created").textContent = s.created;
        document.getElementById("import-updated").textContent = s.updated;
        document.getElementById("import-errors").textContent = s.errors;
        document.getElementById("import-status").textContent = s.status;
        if (s.status === "done" || s.status === "failed") {
          window.location.reload();
        } else {
          setTimeout(poll, 700);
        }
      }).catch(function () { setTimeout(poll, 2000); });
    };
    if (progress.getAttribute("data-finished") !== "1") poll();
  }

  // The segment builder: each condition row shows the inputs its field and operator need,
  // rows are added and removed, and the live count follows every change (POST /segments/count).
  var builder = document.getElementById("segment-builder");
  if (builder) {
    var PARTS = {
      tags: function () { return ["tags"]; },
      source: function (op) { return op === "is_set" || op === "not_set" ? [] : ["value"]; },
      attribute: function (op) { return op === "is_set" || op === "not_set" ? ["name"] : ["name", "value"]; },
      created: function () { return ["dates"]; },
      campaign: function (op) {
        if (op === "received") return ["campaign", "status"];
        return op === "converted" || op === "not_converted" ? ["campaign", "value"] : ["campaign"];
      }
    };
    var shape = function (row) {
      var kind = row.querySelector(".c-field").value;
      var opSelect = row.querySelector(".c-op");
      var current = opSelect.options[opSelect.selectedIndex];
      Array.prototype.forEach.call(opSelect.options, function (o) { o.hidden = o.getAttribute("data-for") !== kind; });
      if (!current || current.hidden) {
        var first = Array.prototype.find.call(opSelect.options, function (o) { return !o.hidden; });
        if (first) opSelect.value = first.value;
      }
      opSelect.hidden = !kind;
      var show = kind && PARTS[kind] ? PARTS[kind](opSelect.value) : [];
      row.querySelectorAll(".c-part").forEach(function (part) { part.hidden = show.indexOf(part.getAttribute("data-part")) < 0; });
      var value = row.querySelector("[data-part=value] input");
      if (kind === "source") value.setAttribute("list", "sources-list"); else value.removeAttribute("list");
    };
    var rows = builder.querySelector("#conditions");
    var next = rows.querySelectorAll(".condition").length;
    rows.querySelectorAll(".condition").forEach(shape);

    var countBox = document.getElementById("live-count");
    var timer = null, asked = 0;
    var recount = function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var mine = ++asked;
        fetch(builder.getAttribute("data-count-url"), { method: "POST", body: new FormData(builder), credentials: "same-origin" })
          .then(function (r) { return r.json(); })
          .then(function (answer) {
            if (mine !== asked) return;  // a later change already asked again
            countBox.textContent = "";
            if (answer.count) {
              var strong = document.createElement("strong");
              strong.setAttribute("data-testid", "sendable");
              strong.textContent = answer.count.sendable.toLocaleString();
              countBox.appendChild(strong);
              countBox.appendChild(document.createTextNode(" contacts can be messaged · " + answer.count.matching.toLocaleString() +
                " match · " + answer.count.opted_out.toLocaleString() + " opted out · " + answer.count.blocked.toLocaleString() + " blocked"));
              countBox.removeAttribute("data-error");
            } else {
              countBox.setAttribute("data-error", "1");
              countBox.textContent = "Not complete yet: " + (answer.error || "check the conditions");
            }
          })
          .catch(function () { countBox.textContent = "Could not count right now."; });
      }, 250);
    };
    builder.addEventListener("change", function (event) {
      var row = event.target.closest(".condition");
      if (row) shape(row);
      recount();
    });
    builder.addEventListener("input", function (event) { if (event.target.matches("input[type=text]")) recount(); });
    builder.addEventListener("click", function (event) {
      var remove = event.target.closest(".c-remove");
      if (remove) { remove.closest(".condition").remove(); recount(); }
    });
    document.getElementById("add-condition").addEventListener("click", function () {
      var html = document.getElementById("condition-template").innerHTML.replace(/__i__/g, String(next++));
      rows.insertAdjacentHTML("beforeend", html);
      var added = rows.lastElementChild;
      shape(added);
      added.querySelector(".c-field").focus();
    });
  }

  // New broadcast, step by step: one step shown at a time (all of them without JavaScript),
  // each parameter mapped from the contact or as fixed text, and the estimate, the preview
  // bubble and the review following every change (POST /broadcasts/preview).
  var wizard = document.getElementById("broadcast-wizard");
  if (wizard) {
    var show = function (step) {
      wizard.querySelectorAll("[data-step]").forEach(function (s) { s.hidden = s.getAttribute("data-step") !== String(step); });
      document.querySelectorAll("[data-step-link]").forEach(function (l) { l.classList.toggle("on", l.getAttribute("data-step-link") === String(step)); });
    };
    var firstStep = wizard.querySelector("#broadcast-error") ? 4 : 1;
    show(document.getElementById("broadcast-error") ? 4 : firstStep);
    document.querySelectorAll("[data-step-link]").forEach(function (l) {
      l.addEventListener("click", function () { show(l.getAttribute("data-step-link")); });
    });
    wizard.addEventListener("click", function (event) {
      var next = event.target.closest("[data-next]");
      if (next) { event.preventDefault(); show(next.getAttribute("data-next")); window.scrollTo(0, 0); }
    });
    var shapeMapping = function (m) {
      var from = m.querySelector(".m-from").value;
      m.querySelectorAll("[data-from]").forEach(function (part) { part.hidden = part.getAttribute("data-from") !== from; });
    };
    var shapeWhen = function () {
      var later = document.getElementById("when-later");
      wizard.querySelectorAll("[data-when=later]").forEach(function (part) { part.hidden = !(later && later.checked); });
      var csv = document.getElementById("audience-csv");
      wizard.querySelectorAll("[data-audience]").forEach(function (part) {
        part.hidden = part.getAttribute("data-audience") !== (csv && csv.checked ? "csv" : "segment");
      });
    };
    wizard.querySelectorAll(".mapping").forEach(shapeMapping);
    shapeWhen();

    var box = document.getElementById("estimate");
    var drawEstimate = function (e) {
      box.textContent = "";
      if (!e) { box.appendChild(document.getElementById("estimate-empty").content.cloneNode(true)); return; }
      var strong = document.createElement("strong");
      strong.setAttribute("data-testid", "will-send");
      strong.textContent = e.will_send.toLocaleString();
      box.appendChild(strong);
      box.appendChild(document.createTextNode(" contacts will get it" + (e.matching !== e.will_send ? " (" + e.matching.toLocaleString() + " match)" : "") + "."));
      Object.keys(e.skips).forEach(function (reason) {
        var line = document.createElement("div");
        line.className = "small";
        line.textContent = "Skipped: " + e.skips[reason].toLocaleString() + " " + reason;
        box.appendChild(line);
      });
      var small = function (text, testid) {
        var line = document.createElement("div");
        line.className = "small";
        if (testid) line.setAttribute("data-testid", testid);
        line.textContent = text;
        box.appendChild(line);
      };
      Object.keys(e.held || {}).forEach(function (reason) { small("Sent later (" + reason + "): " + e.held[reason].toLocaleString()); });
      var countries = Object.keys(e.by_country || {});
      if (countries.length) {
        small("By country: " + countries.map(function (c) { return c + " " + e.by_country[c].toLocaleString(); }).join(", "), "by-country");
      }
      if (e.cost_line) small("Estimated cost: " + e.cost_line, "cost");
      e.warnings.forEach(function (w) {
        var line = document.createElement("div");
        line.className = "small warn-text";
        line.textContent = "⚠ " + w;
        box.appendChild(line);
      });
    };
    var setText = function (id, value) { var el = document.getElementById(id); if (el) { el.textContent = value || ""; el.hidden = !value; } };
    var review = function (answer) {
      var form = new FormData(wizard);
      var name = wizard.querySelector("[data-review=name]");
      name.textContent = form.get("name") || "—";
      wizard.querySelector("[data-review=audience]").textContent = answer.estimate ? answer.estimate.will_send.toLocaleString() + " contacts" : "—";
      var template = document.getElementById("broadcast-template");
      wizard.querySelector("[data-review=template]").textContent = template && template.selectedIndex >= 0 ? template.options[template.selectedIndex].text : "—";
      var when = form.get("when") === "later" && form.get("send_date") ? form.get("send_date") + " " + (form.get("send_time") || "") : "now";
      wizard.querySelector("[data-review=when]").textContent = when;
      setText("review-problem", answer.problem);
      var warnings = document.getElementById("review-warnings");
      warnings.textContent = "";
      (answer.estimate ? answer.estimate.warnings : []).forEach(function (w) {
        var div = document.createElement("div");
        div.className = "notice warn";
        div.textContent = w;
        warnings.appendChild(div);
      });
    };
    var pending = null, turn = 0;
    var refresh = function () {
      clearTimeout(pending);
      pending = setTimeout(function () {
        var mine = ++turn;
        fetch(wizard.getAttribute("data-preview-url"), { method: "POST", body: new FormData(wizard), credentials: "same-origin" })
          .then(function (r) { return r.json(); })
          .then(function (answer) {
            if (mine !== turn) return;
            document.getElementById("preview-bubble").innerHTML = answer.bubble;  // rendered (and escaped) by the server
            setText("preview-sample", answer.sample ? "As " + answer.sample + " will get it." : "With the template's examples until an audience is chosen.");
            document.getElementById("preview-sample").hidden = false;
            setText("preview-problem", answer.problem);
            drawEstimate(answer.estimate);
            review(answer);
          });
      }, 250);
    };
    wizard.addEventListener("change", function (event) {
      if (event.target.matches("[data-reload]")) {
        // Another template needs other fields: the page comes back with them, keeping the rest.
        var form = new FormData(wizard);
        var query = new URLSearchParams({ template: form.get("template") || "", segment: form.get("segment") || "", name: form.get("name") || "" });
        window.location.href = "/broadcasts/new?" + query.toString();
        return;
      }
      var mapping = event.target.closest(".mapping");
      if (mapping) shapeMapping(mapping);
      shapeWhen();
      refresh();
    });
    wizard.addEventListener("input", function (event) { if (event.target.matches("input[type=text]")) refresh(); });
    var testButton = document.getElementById("send-test");
    if (testButton) {
      testButton.addEventListener("click", function () {
        var out = document.getElementById("test-result");
        out.textContent = "Sending…";
        fetch(wizard.getAttribute("data-test-url"), { method: "POST", body: new FormData(wizard), credentials: "same-origin" })
          .then(function (r) { return r.json(); })
          .then(function (answer) { out.textContent = answer.message; out.setAttribute("data-sent", answer.sent ? "1" : "0"); })
          .catch(function () { out.textContent = "Could not send the test right now."; });
      });
    }
  }

  // Contacts: select all on the page, and confirm a bulk delete.
  var selectAll = document.getElementById("select-all");
  if (selectAll) {
    selectAll.addEventListener("change", function () {
      document.querySelectorAll("#contacts-table input[name=ids]").forEach(function (box) { box.checked = selectAll.checked; });
    });
  }
  var bulkForm = document.getElementById("bulk-form");
  if (bulkForm) {
    bulkForm.addEventListener("submit", function (event) {
      var chosen = bulkForm.querySelectorAll("input[name=ids]:checked").length;
      var action = document.getElementById("bulk-action");
      if (action && action.value === "delete" && !window.confirm("Delete " + chosen + " contact(s) with their message history?")) event.preventDefault();
    });
  }
})();
