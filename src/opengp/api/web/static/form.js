// Feature inputs can be loaded from a .json/.geojson file into their text area.
(function () {
  "use strict";
  document.querySelectorAll("input.loadfile").forEach(function (input) {
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      if (!file) return;
      file.text().then(function (text) { document.getElementById(input.dataset.target).value = text; });
    });
  });
})();

// File inputs: sent ahead to uploads/upload, the field then names the upload
// ({"itemID": ...}).  Without JavaScript the form carries the file itself.
(function () {
  "use strict";
  document.querySelectorAll("input[type=file].upload").forEach(function (input) {
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      var target = document.getElementById(input.dataset.target);
      if (!file) return;
      var body = new FormData();
      body.append("file", file);
      body.append("f", "json");
      target.value = "uploading " + file.name + "...";
      fetch(input.form.dataset.uploads, { method: "POST", body: body, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (answer) {
          if (answer.item) { target.value = JSON.stringify({ itemID: answer.item.itemID }); input.value = ""; }
          else { target.value = ""; alert((answer.error && answer.error.message) || "Upload failed"); }
        });
    });
  });
})();
