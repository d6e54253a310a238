// eceprobe dashboard: auto-refresh and the "Run audit" button. No inline script anywhere
// (the Content-Security-Policy forbids it); the cookie carries the access token.
"use strict";

(function () {
  // Refresh: re-fetch this page and swap its <main>, so the scroll position stays.
  var seconds = Number(document.body.getAttribute("data-refresh") || 0);
  if (seconds > 0) {
    setInterval(function () {
      var active = document.activeElement;
      // Never pull the form out from under someone using it.
      if (active && (active.tagName === "INPUT" || active.tagName === "SELECT")) return;
      if (document.hidden) return;
      fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (text) {
          if (!text) return;
          var doc = new DOMParser().parseFromString(text, "text/html");
          var fresh = doc.querySelector("main");
          var current = document.querySelector("main");
          if (!fresh || !current) return;
          // A fix someone opened (the gaps page's "What to do") stays open.
          current.querySelectorAll("details[id][open]").forEach(function (d) {
            var same = doc.getElementById(d.id);
            if (same) same.open = true;
          });
          current.replaceWith(fresh);
        })
        .catch(function () { /* the next turn tries again */ });
    }, seconds * 1000);
  }

  // "Run audit": delegated, so it survives the refresh's swap of <main>.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button.run-audit") : null;
    if (!button) return;
    var status = document.querySelector(".audit-status");
    var say = function (text) { if (status) status.textContent = text; };
    button.disabled = true;
    say("starting the audit...");
    fetch("/api/audits", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ deployment: button.getAttribute("data-deployment") || "", deadline_s: 0 })
    })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        if (res.ok && res.body.url) {
          window.location.assign(res.body.url);
        } else {
          button.disabled = false;
          say("could not start the audit: " + (res.body.error || "unknown error"));
        }
      })
      .catch(function (e) {
        button.disabled = false;
        say("could not start the audit: " + e);
      });
  });
})();
