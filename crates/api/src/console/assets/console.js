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

  // What the reader changed on the page survives a refresh: open outputs, a ticked box, a
  // field being typed in.
  function keep(current, fresh) {
    current.querySelectorAll("details[open]").forEach(function (open) {
      var row = open.closest("[data-step]");
      var twin = row && fresh.querySelector('[data-step="' + CSS.escape(row.getAttribute("data-step")) + '"] details');
      if (twin) {
        twin.open = true;
      }
    });
    current.querySelectorAll("input[type=checkbox]:checked").forEach(function (box) {
      var twin = box.name && fresh.querySelector('input[type=checkbox][name="' + CSS.escape(box.name) + '"]');
      if (twin) {
        twin.checked = true;
      }
    });
  }

  // Fetches this page again and puts its run section in place of ours: the server renders
  // every state, the script only asks for it.
  function refresh() {
    pending = null;
    var active = document.activeElement;
    if (!ended && active && active !== document.body && run.contains(active)) {
      pending = window.setTimeout(refresh, 1000);
      return;
    }
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (answer) {
        if (answer.redirected || !answer.ok) {
          // Signed out or expired: a reload shows the sign-in page.
          window.location.reload();
          return null;
        }
        return answer.text();
      })
      .then(function (html) {
        if (html === null) {
          return;
        }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("run");
        var current = document.getElementById("run");
        if (!fresh || !current) {
          window.location.reload();
          return;
        }
        if (ended) {
          fresh.removeAttribute("data-live");
        }
        keep(current, fresh);
        current.replaceWith(fresh);
        run = fresh;
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
  // The stream closes now and then to be checked again; the browser reconnects by itself.
  // Refused (signed out, expired): it stays closed, and the refresh shows why.
  source.onerror = function () {
    if (source.readyState === EventSource.CLOSED && !ended) {
      refresh();
    }
  };
  source.addEventListener("end", function () {
    ended = true;
    source.close();
    if (pending !== null) {
      window.clearTimeout(pending);
    }
    refresh();
  });
})();
