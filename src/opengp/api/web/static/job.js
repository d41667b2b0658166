// Live job page: server-sent events from .../jobs/<id>/events (polling the JSON
// only where EventSource is missing or keeps failing).  No reload: when the job
// ends, the results section is fetched and swapped in.
(function () {
  "use strict";
  var root = document.getElementById("job");
  if (!root) return;
  var list = document.getElementById("messages");
  var shown = list.children.length;

  document.querySelectorAll("input.level").forEach(function (box) {
    box.addEventListener("change", function () { list.classList.toggle("hide-" + box.value, !box.checked); });
  });

  var cancel = document.getElementById("cancel");
  cancel.addEventListener("submit", function (e) {
    e.preventDefault();
    var body = new URLSearchParams({ f: "json" });
    fetch(cancel.action, { method: "POST", body: body, credentials: "same-origin" });
    cancel.querySelector("button").disabled = true;
  });

  function show(s) {
    var badge = document.getElementById("status");
    badge.textContent = s.label;
    badge.className = "badge " + s.status;
    var bar = document.getElementById("progress");
    if (s.percent === null || s.percent === undefined) bar.removeAttribute("value");
    else { bar.value = s.percent; document.getElementById("percent").textContent = Math.round(s.percent) + "%"; }
    document.getElementById("stage").textContent = s.stage || "";
    document.getElementById("duration").textContent = s.duration;
    (s.messages || []).forEach(function (m) {
      var li = document.createElement("li");
      li.className = m.level;
      var t = document.createElement("time"); t.textContent = m.time;
      var l = document.createElement("span"); l.className = "lvl"; l.textContent = m.level;
      li.append(t, " ", l, " " + m.text);
      list.appendChild(li);
      shown += 1;
    });
    if (s.messages && s.messages.length) list.scrollTop = list.scrollHeight;
    cancel.hidden = !s.cancellable;
    if (s.terminal) finish();
  }

  function finish() {
    root.dataset.terminal = "true";
    if (source) source.close();
    fetch(location.pathname + "?f=html", { credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("results-section");
        if (fresh) document.getElementById("results-section").replaceWith(fresh);
        if (window.opengpMaps) window.opengpMaps();
      });
  }

  var source = null, failures = 0;
  function poll() {
    fetch(root.dataset.events + "?f=json&once=true&after=" + shown, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (s) { show(s); if (!s.terminal) setTimeout(poll, 1000); })
      .catch(function () { setTimeout(poll, 3000); });
  }
  if (root.dataset.terminal === "true") return;
  if (!window.EventSource) { poll(); return; }
  source = new EventSource(root.dataset.events + "?after=" + shown);
  source.onmessage = function (e) { failures = 0; show(JSON.parse(e.data)); };
  source.onerror = function () {
    failures += 1;
    if (failures > 3 && root.dataset.terminal !== "true") { source.close(); source = null; poll(); }
  };
})();
