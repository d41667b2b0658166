// The admin dashboard, live: every few seconds the charts part of the page is fetched again
// (?part=charts, drawn on the server) and swapped in.  No chart library.
(function () {
  "use strict";
  var root = document.getElementById("dashboard");
  if (!root) return;
  var every = (parseFloat(root.getAttribute("data-refresh")) || 5) * 1000;
  // the page's own query (a ?token= it was opened with signs the fetches too), plus part=charts
  var query = new URLSearchParams(location.search);
  query.set("part", "charts");
  var url = location.pathname + "?" + query.toString();

  function refresh() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        // signed out, or the sign-in expired: the answer is the sign-in page (a redirect
        // followed) or an error, never charts; the page itself, reloaded, goes to sign in
        if (r.redirected || !r.ok) {
          location.reload();
          return null;
        }
        return r.text();
      })
      .then(function (html) {
        if (html === null) return;
        root.innerHTML = html;
        root.setAttribute("data-refreshed", String(Date.now()));
        setTimeout(refresh, every);
      })
      .catch(function () { setTimeout(refresh, every); /* offline: the next round tries again */ });
  }
  setTimeout(refresh, every);
})();
