// A very small map: draws Esri JSON or GeoJSON features as SVG, fitted to their
// extent, longitude and latitude in Web Mercator so shapes keep their proportions.
// Enough to see what a result looks like, with no library to load.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";

  function rings(f) {
    var g = f.geometry || {};
    if (g.rings) return { kind: "polygon", parts: g.rings };
    if (g.paths) return { kind: "line", parts: g.paths };
    if (g.x !== undefined) return { kind: "point", parts: [[[g.x, g.y]]] };
    if (g.points) return { kind: "point", parts: g.points.map(function (p) { return [p]; }) };
    var c = g.coordinates, t = g.type;
    if (t === "Point") return { kind: "point", parts: [[c]] };
    if (t === "MultiPoint") return { kind: "point", parts: c.map(function (p) { return [p]; }) };
    if (t === "LineString") return { kind: "line", parts: [c] };
    if (t === "MultiLineString") return { kind: "line", parts: c };
    if (t === "Polygon") return { kind: "polygon", parts: c };
    if (t === "MultiPolygon") return { kind: "polygon", parts: [].concat.apply([], c) };
    return { kind: "none", parts: [] };
  }

  // Spatial references whose coordinates are longitude and latitude in degrees.
  var GEOGRAPHIC = { 4326: 1, 4269: 1, 4258: 1, 4283: 1, 4617: 1, 4167: 1, 4230: 1, 4267: 1 };

  function isGeographic(data, shapes) {
    var sr = data.spatialReference || {};
    var wkid = sr.latestWkid || sr.wkid;
    if (wkid) return !!GEOGRAPHIC[wkid];
    if (sr.wkt) return /^\s*GEOGCS/i.test(sr.wkt);
    // GeoJSON, or Esri JSON without a spatial reference: degrees if every coordinate could be
    return shapes.every(function (s) { return s.parts.every(function (p) { return p.every(function (c) {
      return Math.abs(c[0]) <= 180 && Math.abs(c[1]) <= 90; }); }); });
  }

  // Web Mercator (in radians): conformal, so a circle on the ground stays round at any latitude.
  function mercator(c) {
    var lat = Math.max(-85.05, Math.min(85.05, c[1])) * Math.PI / 180;
    return [c[0] * Math.PI / 180, Math.log(Math.tan(Math.PI / 4 + lat / 2))];
  }

  function draw(svg) {
    var data = JSON.parse(svg.dataset.features);
    var shapes = (data.features || []).map(rings);
    if (isGeographic(data, shapes)) {
      shapes.forEach(function (s) { s.parts = s.parts.map(function (p) { return p.map(mercator); }); });
    }
    var xs = [], ys = [];
    shapes.forEach(function (s) { s.parts.forEach(function (p) { p.forEach(function (c) { xs.push(c[0]); ys.push(c[1]); }); }); });
    if (!xs.length) return;
    var minx = Math.min.apply(null, xs), maxx = Math.max.apply(null, xs);
    var miny = Math.min.apply(null, ys), maxy = Math.max.apply(null, ys);
    var w = 400, h = 260, pad = 10;
    var scale = Math.min((w - 2 * pad) / ((maxx - minx) || 1), (h - 2 * pad) / ((maxy - miny) || 1));
    function pt(c) { return [pad + (c[0] - minx) * scale, h - pad - (c[1] - miny) * scale]; }
    shapes.forEach(function (s) {
      if (s.kind === "point") {
        s.parts.forEach(function (p) {
          var q = pt(p[0]), dot = document.createElementNS(NS, "circle");
          dot.setAttribute("cx", q[0]); dot.setAttribute("cy", q[1]); dot.setAttribute("r", 3.5);
          dot.setAttribute("class", "feature point"); dot.setAttribute("fill", "#0b57a4");
          svg.appendChild(dot);
        });
        return;
      }
      var d = s.parts.map(function (p) {
        return p.map(function (c, i) { var q = pt(c); return (i ? "L" : "M") + q[0].toFixed(1) + " " + q[1].toFixed(1); }).join("") + (s.kind === "polygon" ? "Z" : "");
      }).join(" ");
      var path = document.createElementNS(NS, "path");
      path.setAttribute("d", d);
      path.setAttribute("class", "feature " + s.kind);
      path.setAttribute("fill", s.kind === "polygon" ? "rgba(11,87,164,.25)" : "none");
      path.setAttribute("fill-rule", "evenodd");
      path.setAttribute("stroke", "#0b57a4");
      path.setAttribute("stroke-width", "1.5");
      svg.appendChild(path);
    });
  }

  window.opengpMaps = function () {
    document.querySelectorAll("svg.preview[data-features]").forEach(function (svg) {
      if (!svg.dataset.drawn) { svg.dataset.drawn = "1"; draw(svg); }
    });
  };
  window.opengpMaps();
})();
