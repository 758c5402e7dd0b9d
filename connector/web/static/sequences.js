/* The wording editor's live preview: on each change (after a short pause) the draft is POSTed
   (with the page's CSRF token) and rendered on the chosen invoice by the server, in its limited
   renderer; the subject, the plain text and what is missing come back as JSON, and the HTML
   version loads into the sandboxed frame. Nothing is saved until "Save wording". */
(function () {
  "use strict";
  var form = document.getElementById("template-form");
  var htmlForm = document.getElementById("preview-html-form");
  if (!form || !htmlForm) { return; }
  var url = form.getAttribute("data-preview-url");
  var subject = document.getElementById("preview-subject");
  var text = document.getElementById("preview-text");
  var problems = document.getElementById("preview-problems");
  var error = document.getElementById("preview-error");
  var timer = null;
  var latest = 0;

  function show(data) {
    error.hidden = !data.error;
    error.textContent = data.error ? "Cannot render — " + data.error : "";
    problems.textContent = "";
    (data.problems || []).forEach(function (p) {
      var li = document.createElement("li");
      li.textContent = "Missing: " + p;
      problems.appendChild(li);
    });
    problems.hidden = !(data.problems && data.problems.length);
    subject.textContent = data.subject || "";
    text.textContent = data.text || "";
  }

  function refresh() {
    if (!form.elements.invoice_id.value) { return; }
    var mine = ++latest;
    var body = new FormData(form);
    body.set("format", "json");
    fetch(url, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) { if (mine === latest) { show(data); } })
      .catch(function () { if (mine === latest) { show({ error: "the preview is unavailable right now" }); } });
    ["subject", "body", "invoice_id"].forEach(function (name) {
      htmlForm.elements[name].value = form.elements[name].value;
    });
    htmlForm.submit();
  }

  function later() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 400);
  }

  form.addEventListener("input", later);
  form.addEventListener("change", later);
  refresh();
}());
