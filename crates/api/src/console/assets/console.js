// runbook console: the page of a running run follows its events. Plain JavaScript, no build.
// Without it (or with JavaScript off), a reload shows the same state.
(function () {
  "use strict";
  var run = document.getElementById("run");
  if (!run || !window.EventSource || !window.fetch) {
    return;
  }
  var stream = run.getAttribute("data-live");
  if (!stream) {
    return;
  }
  var pending = null;
  var ended = false;
  var source = new EventSource(stream);

  // Fetches this page again and puts its run section in place of ours: the server renders
  // every state, the script only asks for it.
  function refresh() {
    pending = null;
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (answer) {
        if (!answer.ok) {
          throw new Error("status " + answer.status);
        }
        return answer.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("run");
        var current = document.getElementById("run");
        if (fresh && current) {
          if (ended) {
            fresh.removeAttribute("data-live");
          }
          current.replaceWith(fresh);
        }
      })
      .catch(function () {
        // The next event (or a reload) tries again.
      });
  }

  function soon() {
    if (pending === null) {
      pending = window.setTimeout(refresh, 250);
    }
  }

  source.onmessage = soon;
  source.addEventListener("end", function () {
    ended = true;
    source.close();
    if (pending !== null) {
      window.clearTimeout(pending);
    }
    refresh();
  });
})();
