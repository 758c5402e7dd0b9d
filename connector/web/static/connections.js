// Connections page: while a sync waits or runs, poll its progress (read from the store) every
// two seconds and say how far it got; once it ends, reload so the last sync and errors show.
"use strict";
(function () {
  var POLL_MS = 2000;
  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }
  function describe(p) {
    if (p.state === "waiting") { return "Sync requested: starting in a few seconds…"; }
    if (p.state === "running") {
      return "Syncing: " + plural(p.pages, "page") + ", " + plural(p.invoices, "invoice") + " so far…";
    }
    return "Sync finished: " + plural(p.invoices, "invoice") + " read in " + plural(p.pages, "page") + ".";
  }
  function watch(box) {
    var text = box.querySelector(".progress-text");
    var timer = window.setInterval(function () {
      fetch(box.dataset.progressUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
        .then(function (p) {
          box.dataset.state = p.state;
          text.textContent = describe(p);
          if (p.state === "idle") { window.clearInterval(timer); window.setTimeout(function () { window.location.reload(); }, 1500); }
        })
        .catch(function () { /* a missed poll is retried on the next tick */ });
    }, POLL_MS);
  }
  document.querySelectorAll(".progress[data-progress-url]").forEach(function (box) {
    if (box.dataset.state === "waiting" || box.dataset.state === "running") { watch(box); }
  });
})();
