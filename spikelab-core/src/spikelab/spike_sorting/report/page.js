// SpikeLab sorting report: draws each unit's panels (SVG) from the JSON embedded in the page.
// Self-contained: no network, no library. Sets body[data-rendered-units] when done.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var W = 200, H = 130, PAD = 22;

  function el(name, attrs, parent) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(node);
    return node;
  }
  function text(parent, x, y, s, anchor) {
    var t = el("text", {x: x, y: y, "text-anchor": anchor || "start", "class": "lbl"}, parent);
    t.textContent = s;
    return t;
  }
  function panel(title) {
    var svg = el("svg", {width: W, height: H, viewBox: "0 0 " + W + " " + H, "class": "panel"});
    text(svg, W / 2, 12, title, "middle");
    return svg;
  }
  function range(values) {
    var lo = Infinity, hi = -Infinity;
    values.forEach(function (v) { if (v < lo) lo = v; if (v > hi) hi = v; });
    if (!isFinite(lo)) { lo = 0; hi = 1; }
    if (hi === lo) { hi = lo + 1; }
    return [lo, hi];
  }
  function polyline(svg, xs, ys, xr, yr, box, cls) {
    var pts = xs.map(function (x, i) {
      var px = box[0] + (x - xr[0]) / (xr[1] - xr[0]) * box[2];
      var py = box[1] + box[3] - (ys[i] - yr[0]) / (yr[1] - yr[0]) * box[3];
      return px.toFixed(1) + "," + py.toFixed(1);
    });
    el("polyline", {points: pts.join(" "), "class": cls || "trace"}, svg);
  }
  function bars(svg, counts, xlabel, centred) {
    var n = counts.length, peak = Math.max.apply(null, counts.concat([1]));
    var bw = (W - 2 * PAD) / n;
    counts.forEach(function (c, i) {
      var h = c / peak * (H - PAD - 18);
      el("rect", {x: PAD + i * bw, y: H - PAD - h, width: Math.max(bw - 0.5, 0.5), height: h, "class": "bar"}, svg);
    });
    el("line", {x1: PAD, x2: W - PAD, y1: H - PAD, y2: H - PAD, "class": "axis"}, svg);
    text(svg, PAD, H - 8, centred ? "-50" : "0", "middle");
    text(svg, W - PAD, H - 8, "50", "middle");
    text(svg, W / 2, H - 8, xlabel, "middle");
    return svg;
  }
  function waveform(unit) {
    var svg = panel("waveform (peak channel)");
    if (!unit.waveform) { text(svg, W / 2, H / 2, "no template", "middle"); return svg; }
    var ys = unit.waveform, xs = ys.map(function (_, i) { return i; });
    var yr = range(ys);
    polyline(svg, xs, ys, [0, xs.length - 1], yr, [PAD, 18, W - 2 * PAD, H - PAD - 18], "trace main");
    text(svg, 2, H - 8, Math.round(yr[0]) + " µV");
    text(svg, W - 2, H - 8, ((unit.dt_ms || 0) * xs.length).toFixed(1) + " ms", "end");
    return svg;
  }
  function footprint(unit) {
    var svg = panel("footprint");
    var fp = unit.footprint;
    if (!fp) { text(svg, W / 2, H / 2, "no channel positions", "middle"); return svg; }
    var xr = range(fp.x), yr = range(fp.y);
    var all = [].concat.apply([], fp.traces), ar = range(all);
    var cols = Math.max(1, new Set(fp.x).size), rows = Math.max(1, new Set(fp.y).size);
    var cw = (W - 2 * 8) / cols, ch = (H - 18 - 8) / rows;
    fp.traces.forEach(function (trace, i) {
      var cx = 8 + (cols > 1 ? (fp.x[i] - xr[0]) / (xr[1] - xr[0]) * (W - 16 - cw) : (W - 16 - cw) / 2);
      var cy = 18 + (rows > 1 ? (yr[1] - fp.y[i]) / (yr[1] - yr[0]) * (H - 26 - ch) : (H - 26 - ch) / 2);
      var xs = trace.map(function (_, k) { return k; });
      polyline(svg, xs, trace, [0, trace.length - 1], ar, [cx, cy, cw * 0.9, ch * 0.9],
               i === fp.peak ? "trace main" : "trace");
    });
    text(svg, W - 2, H - 2, Math.round(ar[1] - ar[0]) + " µV p-p", "end");
    return svg;
  }
  function amplitudes(unit) {
    var svg = panel("amplitude over time");
    var a = unit.amplitudes;
    if (!a || !a.t.length) { text(svg, W / 2, H / 2, "no spike snippets", "middle"); return svg; }
    var tr = range(a.t), ar = range(a.a);
    a.t.forEach(function (t, i) {
      el("circle", {cx: PAD + (t - tr[0]) / (tr[1] - tr[0]) * (W - 2 * PAD),
                    cy: 18 + (H - PAD - 18) - (a.a[i] - ar[0]) / (ar[1] - ar[0]) * (H - PAD - 18),
                    r: 1.3, "class": "dot"}, svg);
    });
    text(svg, 2, H - 8, Math.round(ar[0]) + " µV");
    text(svg, W - 2, H - 8, tr[1].toFixed(0) + " s", "end");
    return svg;
  }
  function fmt(v, digits) {
    return (typeof v === "number" && isFinite(v)) ? v.toFixed(digits) : "–";
  }
  function card(row) {
    var key = String(row.unit_id), unit = data.panels[key] || {isi: [], acg: []};
    var div = document.createElement("div");
    div.className = "unit " + (row.kept === false ? "removed" : "kept");
    div.setAttribute("data-unit-id", key);
    div.setAttribute("data-kept", row.kept === false ? "no" : "yes");
    var head = document.createElement("h3");
    head.textContent = "unit " + key + (row.kept === false ? " — removed (" + (row.failed || []).join(", ") + ")" : " — kept");
    div.appendChild(head);
    var facts = document.createElement("p");
    facts.className = "facts";
    facts.textContent = "spikes " + (row.n_spikes === undefined ? "–" : row.n_spikes) +
      " · rate " + fmt(row.firing_rate, 2) + " Hz · amplitude " + fmt(row.amplitude, 1) +
      " µV · SNR " + fmt(row.snr, 1) + " · ISI viol. " + fmt(row.isi_violation, 2) + " %" +
      " · channel " + (row.channel === undefined || row.channel === null ? "–" : row.channel);
    div.appendChild(facts);
    var strip = document.createElement("div");
    strip.className = "panels";
    strip.appendChild(footprint(unit));
    strip.appendChild(waveform(unit));
    strip.appendChild(bars(panel("ISI histogram"), unit.isi || [], "ISI (ms)", false));
    strip.appendChild(bars(panel("autocorrelogram"), unit.acg || [], "lag (ms)", true));
    strip.appendChild(amplitudes(unit));
    div.appendChild(strip);
    return div;
  }
  function applyFilter(which) {
    document.querySelectorAll(".unit").forEach(function (node) {
      var kept = node.getAttribute("data-kept") === "yes";
      node.style.display = (which === "all" || (which === "kept") === kept) ? "" : "none";
    });
    document.querySelectorAll(".filter").forEach(function (b) {
      b.classList.toggle("active", b.getAttribute("data-filter") === which);
    });
  }
  var units = document.getElementById("units");
  data.units.forEach(function (row) { units.appendChild(card(row)); });
  document.querySelectorAll(".filter").forEach(function (b) {
    b.addEventListener("click", function () {
      var which = b.getAttribute("data-filter");
      history.replaceState(null, "", which === "all" ? " " : "#" + which);
      applyFilter(which);
    });
  });
  // #kept or #removed in the address opens the page filtered (a link to the removed units)
  var initial = (window.location.hash || "").replace("#", "");
  applyFilter(initial === "kept" || initial === "removed" ? initial : "all");
  document.body.setAttribute("data-rendered-units", String(data.units.length));
})();
