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
