/* QBR dashboard: renders each page from the JSON API (/api/qbr) with the session cookie.
 *
 * No numbers are computed here beyond formatting: values, statuses, changes and
 * bands all come from the API. Writes send the CSRF token (X-CSRF-Token) read
 * from the qbr_csrf cookie. A 401 anywhere sends the browser to the sign-in
 * page with an "expired" message; every view is its own URL (?period=...).
 */
(function () {
  "use strict";

  var cfg = JSON.parse(document.getElementById("qbr-config").textContent);
  var main = document.getElementById("main");
  var params = new URLSearchParams(window.location.search);
  var CATEGORIES = ["Operations", "Profit", "Revenue", "Leverage", "Sales"];
  var BEYOND = ["net_revenue_retention_pct", "gross_revenue_retention_pct", "labor_efficiency_ratio",
    "endpoint_security_coverage_pct"];
  var BEYOND_TITLE = "Beyond the sheet";
  var STATUS_TEXT = { green: "On target", yellow: "Watch", red: "Off target" };
  var STATUS_ICON = { green: "\u2714", yellow: "\u25B2", red: "\u2716" };
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  // ------------------------------------------------------------------ helpers

  function h(tag, attrs) {
    var node = document.createElement(tag);
    var a = attrs || {};
    Object.keys(a).forEach(function (k) {
      var v = a[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    });
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }
  function append(node) {
    for (var i = 1; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      if (Array.isArray(child)) { child.forEach(function (c) { append(node, c); }); continue; }
      node.appendChild(typeof child === "string" || typeof child === "number"
        ? document.createTextNode(String(child)) : child);
    }
  }
  function link(path, query) {
    var q = new URLSearchParams();
    Object.keys(query || {}).forEach(function (k) { if (query[k]) q.set(k, query[k]); });
    var root = cfg.root.replace(/\/$/, "");
    var s = q.toString();
    return root + path + (s ? "?" + s : "");
  }
  function cookie(name) {
    var m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : null;
  }
  function toSignin(expired) {
    var next = window.location.pathname + window.location.search;
    window.location.assign(cfg.signin + "?" + (expired ? "expired=1&" : "") + "next=" + encodeURIComponent(next));
  }

  function ApiError(status, body) {
    this.status = status;
    this.body = body || {};
    this.message = (body && body.error) || ("HTTP " + status);
  }

  var cache = {};
  function api(path, opts) {
    opts = opts || {};
    var method = opts.method || "GET";
    if (method === "GET" && cache[path]) return cache[path];
    var headers = { Accept: "application/json" };
    if (method !== "GET") {
      headers["X-CSRF-Token"] = cookie("qbr_csrf") || "";
      if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    }
    var p = fetch(cfg.api + path, {
      method: method, credentials: "same-origin", headers: headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    }).then(function (r) {
      if (r.status === 401) { toSignin(true); return new Promise(function () {}); }
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (!r.ok) throw new ApiError(r.status, body);
        return body;
      });
    });
    if (method === "GET") {
      cache[path] = p;
      p.catch(function () { delete cache[path]; });
    } else {
      cache = {};
    }
    return p;
  }

  // ------------------------------------------------------------------ formatting (by unit)

  function nf(digits) {
    return new Intl.NumberFormat("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  function trimmed(v, max) {
    return new Intl.NumberFormat("en-US", { maximumFractionDigits: max }).format(v);
  }
  function fmt(v, unit) {
    if (v === null || v === undefined) return "N/A";
    var a = Math.abs(v);
    var sign = v < 0 ? "\u2212" : "";
    switch (unit) {
      case "dollars": return sign + "$" + nf(a >= 100 || Number.isInteger(a) ? 0 : 2).format(a);
      case "percent": return sign + nf(1).format(a * 100) + "%";
      case "hours": return sign + nf(2).format(a) + " h";
      case "ratio": return sign + nf(2).format(a);
      case "tickets": return sign + trimmed(a, 2);
      default: return sign + trimmed(a, a < 100 ? 2 : 0);
    }
  }
  function fmtChange(v, unit) {
    if (v === null || v === undefined) return "n/a";
    var sign = v > 0 ? "+" : v < 0 ? "\u2212" : "\u00B1";
    var a = Math.abs(v);
    switch (unit) {
      case "dollars": return sign + "$" + nf(a >= 100 || Number.isInteger(a) ? 0 : 2).format(a);
      case "percent": return sign + nf(1).format(a * 100) + " pp";
      case "hours": return sign + nf(2).format(a) + " h";
      default: return sign + trimmed(a, 2);
    }
  }
  function changeNode(label, v, unit, direction) {
    var arrow = v > 0 ? "\u25B2" : v < 0 ? "\u25BC" : "\u25B6";
    var tone = "neutral";
    if (v && direction === "higher_is_better") tone = v > 0 ? "good" : "bad";
    if (v && direction === "lower_is_better") tone = v < 0 ? "good" : "bad";
    var what = unit === "percent" ? "percentage points" : "absolute change";
    var title = label + " change (" + what + ")" + (tone === "neutral" ? "" : tone === "good" ? ": better" : ": worse");
    return h("span", { class: "change tone-" + (v === null || v === undefined ? "none" : tone), title: title },
      h("span", { class: "change-label", text: label }),
      v === null || v === undefined ? null : h("span", { class: "arrow", "aria-hidden": "true", text: arrow }),
      h("span", { class: "change-value", text: fmtChange(v, unit) }),
      tone === "neutral" || v === null || v === undefined ? null : h("span", { class: "sr-only", text: tone === "good" ? " (better)" : " (worse)" }));
  }
  function statusNode(status, provisional, noValue) {
    if (noValue) return h("span", { class: "status status-none" }, "No value");
    if (provisional) return h("span", { class: "status status-provisional" }, h("span", { "aria-hidden": "true", text: "\u25CC " }), "Provisional");
    if (!status) return h("span", { class: "status status-none" }, "No target");
    return h("span", { class: "status status-" + status },
      h("span", { "aria-hidden": "true", text: STATUS_ICON[status] + " " }), STATUS_TEXT[status]);
  }
  function bandText(t, unit) {
    if (!t) return "";
    var f = function (v) { return fmt(v, unit); };
    if (t.direction === "higher_is_better") {
      return "Green \u2265 " + f(t.green_min) + (t.yellow_min !== null ? " \u00B7 yellow \u2265 " + f(t.yellow_min) : "");
    }
    if (t.direction === "lower_is_better") {
      return "Green \u2264 " + f(t.green_max) + (t.yellow_max !== null ? " \u00B7 yellow \u2264 " + f(t.yellow_max) : "");
    }
    var range = function (lo, hi) {
      return (lo === null ? "\u2264 " + f(hi) : hi === null ? "\u2265 " + f(lo) : f(lo) + "\u2013" + f(hi));
    };
    return "Green " + range(t.green_min, t.green_max) +
      (t.yellow_min !== null || t.yellow_max !== null ? " \u00B7 yellow " + range(t.yellow_min, t.yellow_max) : "");
  }
  function monthLabel(p) { return MONTHS[parseInt(p.slice(5, 7), 10) - 1] + " " + p.slice(0, 4); }
  function prevYearQuarter(q) { return (parseInt(q.slice(0, 4), 10) - 1) + q.slice(4); }
  function sourceTag(ds) {
    if (!ds) return null;
    return h("span", { class: "src src-" + ds, title: ds === "manual" ? "entered by hand" : ds === "mixed" ? "some months entered by hand" : "collected from a source" },
      ds === "manual" ? "\u270E manual" : ds === "mixed" ? "\u270E mixed" : "collected");
  }
  function errorBox(err) {
    return h("p", { class: "error-box", role: "alert" }, err && err.message ? err.message : String(err));
  }
  function render(nodes) {
    main.textContent = "";
    append(main, nodes);
  }

  // ------------------------------------------------------------------ shared data

  var periodsP = null;
  function quarters() {
    if (!periodsP) periodsP = api("/periods?type=quarterly&limit=1000");
    return periodsP;
  }
  function selectedQuarter() {
    return quarters().then(function (d) {
      var want = params.get("period");
      var known = d.periods.map(function (p) { return p.period; });
      if (want && known.indexOf(want) >= 0) return want;
      return d.latest_complete || known[known.length - 1];
    });
  }
  var defsP = null;
  function definitions() {
    if (!defsP) {
      defsP = api("/metrics/definitions?limit=1000").then(function (d) {
        var by = {};
        d.definitions.forEach(function (x) { by[x.key] = x; });
        return by;
      });
    }
    return defsP;
  }
  function defName(defs, key) { return defs[key] ? defs[key].name : key.replace(/_/g, " "); }
  function allQuarterSmartnumbers(list) {
    return Promise.all(list.map(function (q) { return api("/smartnumbers?period=" + q); }));
  }

  // ------------------------------------------------------------------ chrome: header, picker, freshness

  function initChrome(period) {
    var nav = document.querySelector('[data-nav="' + (cfg.view === "smartnumber" || cfg.view === "input" ? "scorecard" : cfg.view === "client" ? "clients" : cfg.view) + '"]');
    if (nav) nav.setAttribute("aria-current", "page");
    document.querySelectorAll("nav a[data-nav]").forEach(function (a) {
      if (period && ["scorecard", "mbr"].indexOf(a.dataset.nav) >= 0) a.href = link(a.dataset.nav === "mbr" ? "/mbr" : "/", { period: period });
    });
    var so = document.getElementById("signout");
    if (so) so.addEventListener("click", function () {
      api("/session", { method: "DELETE" }).finally(function () {
        window.location.assign(cfg.signin + "?signed_out=1");
      });
    });
    freshness();
  }

  function initPicker(period, hrefFor) {
    var wrap = document.getElementById("quarter-picker-wrap");
    var sel = document.getElementById("quarter-picker");
    if (!wrap || !sel) return;
    quarters().then(function (d) {
      sel.textContent = "";
      d.periods.slice().reverse().forEach(function (p) {
        var label = p.period + (p.is_in_progress ? " (in progress)" : p.is_complete ? "" : " (incomplete)");
        append(sel, h("option", { value: p.period, selected: p.period === period, text: label }));
      });
      wrap.hidden = false;
      sel.addEventListener("change", function () { window.location.assign(hrefFor(sel.value)); });
    });
  }

  function ago(iso) {
    if (!iso) return "never";
    var d = new Date(iso);
    return d.toLocaleString("en-US", { dateStyle: "medium", timeStyle: "short" });
  }

  function freshness() {
    var box = document.getElementById("freshness");
    var banner = document.getElementById("banner");
    if (!box) return;
    api("/health").then(function (hl) {
      box.textContent = "";
      var items = (hl.sources || []).map(function (s) {
        var bad = s.is_stale || (s.last_status && s.last_status !== "succeeded");
        return h("span", { class: "asof" + (bad ? " asof-bad" : "") },
          s.source + " data as of " + ago(s.last_success_at) + (bad ? " \u26A0" : ""));
      });
      var last = hl.last_refresh;
      items.push(h("span", { class: "asof" }, "Last refresh: " + (last ? last.status + ", " + ago(last.finished_at || last.started_at) : "never")));
      append(box, items);
      var problems = (hl.sources || []).filter(function (s) {
        return s.is_stale || (s.last_status && s.last_status !== "succeeded");
      });
      if (problems.length && banner) {
        banner.hidden = false;
        banner.className = "banner warn";
        banner.textContent = "";
        append(banner, h("strong", { text: "\u26A0 Data freshness: " }), problems.map(function (s) {
          return s.source + (s.last_status && s.last_status !== "succeeded" ? " last refresh " + s.last_status : " is stale") +
            " \u2014 its numbers are as of its last good load, " + ago(s.last_success_at) + ". ";
        }));
      }
    }).catch(function () { /* health is best effort */ });
  }

  function pageActions(period) {
    var box = document.getElementById("page-actions");
    if (!box) return;
    box.textContent = "";
    append(box,
      h("a", { class: "button", id: "export-csv", href: cfg.api + "/export?period=" + period + "&format=csv&view=scorecard", download: "" }, "Export CSV"),
      h("a", { class: "button", id: "export-xlsx", href: cfg.api + "/export?period=" + period + "&format=xlsx&view=mbr", download: "" }, "Export Excel"),
      h("a", { class: "button", id: "print-link", href: link("/print", { period: period }) }, "Print view"),
      h("a", { class: "button primary", id: "present-link", href: link("/present", { period: period }) }, "Present"));
  }

  // ------------------------------------------------------------------ scorecard

  function groupSmartnumbers(list) {
    var groups = CATEGORIES.map(function (c) { return { title: c, items: [] }; });
    var beyond = { title: BEYOND_TITLE, items: [] };
    list.slice().sort(function (a, b) { return (a.display_order || 0) - (b.display_order || 0); }).forEach(function (sn) {
      if (BEYOND.indexOf(sn.key) >= 0) { beyond.items.push(sn); return; }
      var g = groups.find(function (x) { return x.title === sn.category; });
      if (!g) { g = { title: sn.category || "Other", items: [] }; groups.push(g); }
      g.items.push(sn);
    });
    return groups.concat([beyond]).filter(function (g) { return g.items.length; });
  }

  function tile(sn, defs, period, provisional, opts) {
    opts = opts || {};
    provisional = provisional || !!sn.is_provisional;  // the API may mark single numbers too
    var missing = Object.keys(sn.inputs || {}).filter(function (k) { return sn.inputs[k] === null; });
    var dir = sn.threshold ? sn.threshold.direction : (defs[sn.key] || {}).direction;
    var status = provisional ? null : sn.status;
    var valueNode = sn.value === null
      ? h("p", { class: "value na" }, "N/A", h("span", { class: "needs" }, " \u2014 needs " + (missing.length ? missing.map(function (k) { return defName(defs, k); }).join(", ") : "more data")))
      : h("p", { class: "value", text: fmt(sn.value, sn.unit) });
    var Tag = opts.static ? "div" : "a";
    return h(Tag, {
      class: "tile tile-" + (status || (provisional ? "provisional" : "none")),
      href: opts.static ? null : link("/kpi/" + sn.key, { period: period }),
      "data-key": sn.key, "data-value": sn.value === null ? "" : String(sn.value),
      "data-status": status || "", "data-unit": sn.unit,
    },
      h("h3", { class: "tile-name", text: sn.name }),
      valueNode,
      h("div", { class: "tile-status" }, statusNode(status, provisional && sn.value !== null, sn.value === null),
        h("span", { class: "band", text: bandText(sn.threshold, sn.unit) })),
      h("div", { class: "changes" }, changeNode("QoQ", sn.qoq_change, sn.unit, dir), changeNode("YoY", sn.yoy_change, sn.unit, dir)));
  }

  function scorecardBody(data, defs, opts) {
    var provisional = !!data.is_in_progress;
    var out = [];
    if (provisional) {
      out.push(h("p", { class: "banner info", id: "in-progress-note" },
        "\u25CC " + data.period + " is in progress: its numbers are provisional and are not coloured as final."));
    }
    groupSmartnumbers(data.smartnumbers).forEach(function (g) {
      out.push(h("section", { class: "category", "aria-labelledby": "cat-" + g.title.replace(/\W/g, "") },
        h("h2", { id: "cat-" + g.title.replace(/\W/g, ""), text: g.title }),
        h("div", { class: "tiles" }, g.items.map(function (sn) { return tile(sn, defs, data.period, provisional, opts); }))));
    });
    return out;
  }

  function viewScorecard() {
    return selectedQuarter().then(function (period) {
      initChrome(period);
      initPicker(period, function (q) { return link("/", { period: q }); });
      pageActions(period);
      return Promise.all([api("/smartnumbers?period=" + period), definitions()]).then(function (r) {
        var data = r[0];
        render([h("h1", { class: "page-title" }, "Scorecard \u00B7 " + data.period,
          h("span", { class: "months", text: " (" + data.months.map(monthLabel).join(", ") + ")" })),
          scorecardBody(data, r[1])]);
      });
    });
  }

  // ------------------------------------------------------------------ charts (uPlot)

  function chartsReady() {
    return new Promise(function (resolve) {
      if (!cfg.chartsReady) { resolve(false); return; }
      if (window.uPlot) { resolve(true); return; }
      window.addEventListener("load", function () { resolve(!!window.uPlot); });
    });
  }

  /* A line chart over labelled points; `band` shades the green band; `overlay` is a second
   * series (last year's values). Hovering shows exact values in the legend. */
  function lineChart(container, labels, series, unit, band, opts) {
    opts = opts || {};
    return chartsReady().then(function (ok) {
      if (!ok) { append(container, h("p", { class: "muted", text: "Charts are unavailable (run make setup)." })); return; }
      var width = Math.max(280, Math.min((container.clientWidth || 600) - 20, 1300));
      var first = 0;
      while (first < labels.length - 1 && series.every(function (s) { return s.values[first] === null || s.values[first] === undefined; })) first++;
      labels = labels.slice(first);
      series = series.map(function (s) { return { label: s.label, values: s.values.slice(first) }; });
      var xs = labels.map(function (_, i) { return i; });
      var data = [xs].concat(series.map(function (s) { return s.values; }));
      var lo = band ? (band.direction === "lower_is_better" ? null : band.green_min) : null;
      var hi = band ? (band.direction === "higher_is_better" ? null : band.green_max) : null;
      var yRange = function (u, min, max) {
        var lo2 = min, hi2 = max;
        [lo, hi].forEach(function (b) { if (b !== null && b !== undefined) { lo2 = Math.min(lo2, b); hi2 = Math.max(hi2, b); } });
        if (band && band.direction === "lower_is_better" && lo2 > 0) lo2 = 0;
        if (lo2 === hi2) { lo2 -= 1; hi2 += 1; }
        var pad = (hi2 - lo2) * 0.08;
        return [lo2 - (lo2 === 0 ? 0 : pad), hi2 + pad];
      };
      var plugin = {
        hooks: {
          drawClear: [function (u) {
            if (!band || (lo === null && hi === null) || (lo === undefined && hi === undefined)) return;
            var ctx = u.ctx;
            var top = hi === null || hi === undefined ? u.bbox.top : u.valToPos(hi, "y", true);
            var bottom = lo === null || lo === undefined ? u.bbox.top + u.bbox.height : u.valToPos(lo, "y", true);
            top = Math.max(u.bbox.top, Math.min(top, u.bbox.top + u.bbox.height));
            bottom = Math.max(u.bbox.top, Math.min(bottom, u.bbox.top + u.bbox.height));
            ctx.save();
            ctx.fillStyle = "rgba(30, 123, 52, 0.12)";
            ctx.fillRect(u.bbox.left, top, u.bbox.width, bottom - top);
            ctx.restore();
          }],
        },
      };
      var colours = ["#1f4e8c", "#8a8f98", "#b35c00"];
      var u = new window.uPlot({
        width: width, height: opts.height || 220, plugins: [plugin],
        scales: { x: { time: false }, y: { range: yRange } },
        axes: [
          { values: function (_, ticks) { return ticks.map(function (t) { return labels[t] || ""; }); }, space: 60 },
          { values: function (_, ticks) { return ticks.map(function (t) { return fmt(t, unit); }); }, size: 70 },
        ],
        series: [{ label: opts.xLabel || "Period", value: function (_, i) { return i === null ? "" : labels[i] || ""; } }].concat(
          series.map(function (s, i) {
            return {
              label: s.label, stroke: colours[i % colours.length], width: i === 0 ? 2.5 : 1.5, dash: i === 0 ? undefined : [6, 4],
              points: { show: true, size: i === 0 ? 6 : 4 },
              value: function (_, v) { return v === null || v === undefined ? "\u2014" : fmt(v, unit); },
            };
          })),
      }, data, container);
      container.classList.add("chart-ready");
      return u;
    });
  }

  // ------------------------------------------------------------------ SmartNumber detail

  function viewSmartnumber() {
    var key = cfg.ctx.key;
    return selectedQuarter().then(function (period) {
      initChrome(period);
      initPicker(period, function (q) { return link("/kpi/" + key, { period: q }); });
      return Promise.all([api("/smartnumbers?period=" + period + "&metric=" + key), definitions(), quarters()]).then(function (r) {
        var sn = r[0].smartnumbers[0];
        var defs = r[1];
        var def = defs[key] || {};
        var provisional = !!r[0].is_in_progress;
        var inputs = Object.keys(sn.inputs || {}).filter(function (k) { return defs[k]; });
        var inputsBox = h("div", { id: "inputs-table" }, h("p", { class: "loading", text: "Loading inputs\u2026" }));
        var chartBox = h("div", { class: "chart", id: "trend-chart" });
        var docs = def.docs_url ? cfg.api + "/docs/" + def.docs_url : null;
        render([
          h("p", { class: "crumbs" }, h("a", { href: link("/", { period: period }) }, "Scorecard"), " \u203A " + sn.name),
          h("h1", { class: "page-title", text: sn.name + " \u00B7 " + period }),
          h("div", { class: "detail-head" }, tile(sn, defs, period, provisional, { static: true }),
            h("div", { class: "formula" },
              h("h2", { text: "Formula" }),
              h("p", { class: "formula-words", text: def.description || "" }),
              h("p", null, h("code", { id: "formula", text: def.formula || "" })),
              h("p", { class: "muted", text: "S(x) = sum over the quarter's months, A(x) = average, L(x) = last month." }),
              h("h2", { text: "Threshold" }),
              h("p", { id: "band", text: sn.threshold ? bandText(sn.threshold, sn.unit) + " (" + sn.threshold.origin + ")" : "No threshold: this number is shown without a target." }),
              docs ? h("p", null, h("a", { href: docs, id: "lineage-link" }, "Lineage in the dbt docs")) : null)),
          h("section", null, h("h2", { text: "Inputs" }), inputsBox),
          h("section", null, h("h2", { text: "Trend over all quarters (green band shaded, last year dashed)" }), chartBox),
        ]);
        var inputP = inputs.length ? api("/metrics/quarterly?period=" + period + "&metric=" + inputs.join(",")).then(function (q) {
          inputsBox.textContent = "";
          append(inputsBox, h("div", { class: "table-wrap" }, h("table", { class: "data" },
            h("thead", null, h("tr", null, h("th", { scope: "col", text: "Input" }),
              q.months.map(function (m) { return h("th", { scope: "col", class: "num", text: monthLabel(m) }); }),
              h("th", { scope: "col", class: "num", text: "Quarter" }), h("th", { scope: "col", text: "Source" }))),
            h("tbody", null, q.metrics.map(function (m) {
              return h("tr", { "data-input": m.key },
                h("th", { scope: "row" }, h("a", { href: link("/inputs/" + m.key, { period: period }) }, m.name)),
                q.months.map(function (mo) {
                  var part = (m.monthly_values || []).find(function (x) { return x.period === mo; }) || {};
                  return h("td", { class: "num" + (part.data_source === "manual" ? " manual" : "") },
                    h("a", { href: link("/inputs/" + m.key, { period: period, month: mo }) }, fmt(part.value, m.unit)),
                    part.data_source === "manual" ? h("span", { class: "manual-mark", title: "entered by hand" }, " \u270E") : null);
                }),
                h("td", { class: "num strong", text: fmt(m.value, m.unit) + " (" + (m.quarterly_rule || "") + ")" }),
                h("td", null, sourceTag(m.data_source)));
            })))));
        }) : Promise.resolve(inputsBox.textContent = "No catalogued inputs.");
        var all = r[2].periods.map(function (p) { return p.period; });
        var trendP = allQuarterSmartnumbers(all).then(function (rows) {
          var byQ = {};
          rows.forEach(function (d) { byQ[d.period] = (d.smartnumbers.find(function (x) { return x.key === key; }) || {}).value; });
          var vals = all.map(function (q) { return byQ[q] === undefined ? null : byQ[q]; });
          var prev = all.map(function (q) { var p = prevYearQuarter(q); return byQ[p] === undefined ? null : byQ[p]; });
          return lineChart(chartBox, all, [{ label: "Value", values: vals }, { label: "Last year", values: prev }], sn.unit, sn.threshold);
        });
        return Promise.all([inputP, trendP]);
      });
    });
  }

  // ------------------------------------------------------------------ input detail

  function quarterMonths(q) {
    var first = (parseInt(q.slice(6), 10) - 1) * 3 + 1;
    return [0, 1, 2].map(function (i) { var m = first + i; return q.slice(0, 4) + "-" + (m < 10 ? "0" : "") + m; });
  }

  function manualForm(key, unit, month, onSaved) {
    var err = h("p", { class: "field-error", role: "alert", hidden: true });
    var monthIn = h("input", { type: "month", id: "manual-month", name: "period", value: month, required: true });
    var valueIn = h("input", { type: "number", step: "any", id: "manual-value", name: "value", required: true, inputmode: "decimal" });
    var notesIn = h("input", { type: "text", id: "manual-notes", name: "notes", maxlength: "2000" });
    var forceIn = h("input", { type: "checkbox", id: "manual-force", name: "force" });
    var form = h("form", { class: "manual-form", id: "manual-form", novalidate: true },
      h("div", { class: "field" }, h("label", { for: "manual-month", text: "Month" }), monthIn),
      h("div", { class: "field" }, h("label", { for: "manual-value", text: "Value (" + unit + ")" }), valueIn),
      h("div", { class: "field" }, h("label", { for: "manual-notes", text: "Notes" }), notesIn),
      h("div", { class: "field check" }, forceIn, h("label", { for: "manual-force", text: "Override a collected value (force)" })),
      err,
      h("p", { class: "muted", text: "A value a source collected is only replaced with \u201Coverride\u201D ticked; the collected value is kept and Revert returns to it. Every entry is kept in the history below." }),
      h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", id: "manual-save", text: "Save value" }),
        h("button", { type: "button", id: "manual-revert", text: "Revert month" })));
    function fail(e) {
      err.hidden = false;
      err.textContent = e.message + (e.body && e.body.error_code === "COLLECTED_VALUE" ? " Tick \u201COverride\u201D to replace it." : "");
      var code = e.body && e.body.error_code;
      var target = (e.body && e.body.param === "period") || code === "INVALID_PERIOD" || code === "PERIOD_NOT_FOUND" ? monthIn : valueIn;
      target.setAttribute("aria-invalid", "true");
      target.focus();
    }
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      err.hidden = true;
      valueIn.removeAttribute("aria-invalid");
      if (valueIn.value === "" || isNaN(Number(valueIn.value))) { fail({ message: "Enter a number." }); return; }
      api("/metrics/manual", { method: "POST", body: { period: monthIn.value, force: forceIn.checked, metrics: [{ metric: key, value: Number(valueIn.value), notes: notesIn.value || null }] } })
        .then(onSaved, fail);
    });
    form.querySelector("#manual-revert").addEventListener("click", function () {
      err.hidden = true;
      api("/metrics/manual?period=" + encodeURIComponent(monthIn.value) + "&metric=" + key, { method: "DELETE" }).then(onSaved, fail);
    });
    return form;
  }

  function viewInput() {
    var key = cfg.ctx.key;
    return selectedQuarter().then(function (period) {
      initChrome(period);
      var months = quarterMonths(period);
      var month = params.get("month") && /^\d{4}-\d{2}$/.test(params.get("month")) ? params.get("month") : months[2];
      initPicker(period, function (q) { return link("/inputs/" + key, { period: q }); });
      return Promise.all([definitions(), api("/periods?type=monthly&limit=1000")]).then(function (r) {
        var def = r[0][key] || { name: key, unit: "count" };
        var allMonths = r[1].periods.map(function (p) { return p.period; });
        var chartBox = h("div", { class: "chart", id: "input-chart" });
        var tableBox = h("div", { id: "monthly-table" });
        var clientsBox = h("div", { id: "client-breakdown" }, h("p", { class: "loading", text: "Loading clients\u2026" }));
        var historyBox = h("div", { id: "manual-history" });
        render([
          h("p", { class: "crumbs" }, h("a", { href: link("/", { period: period }) }, "Scorecard"), " \u203A " + def.name),
          h("h1", { class: "page-title", text: def.name }),
          h("p", { class: "muted", text: (def.description || "") + " Source: " + (def.source || "?") + ". Quarter rule: " + (def.quarterly_rule || "?") + "." }),
          h("section", null, h("h2", { text: "Monthly series" }), chartBox, tableBox),
          h("section", null, h("h2", { text: "Per client, " + monthLabel(month) }),
            h("p", { class: "month-pick" }, months.map(function (m) {
              return h("a", { href: link("/inputs/" + key, { period: period, month: m }), class: m === month ? "chip active" : "chip", "aria-current": m === month ? "true" : null }, monthLabel(m));
            })), clientsBox),
          h("section", null, h("h2", { text: "Manual entries" }),
            cfg.admin ? manualForm(key, def.unit, month, function () { window.location.reload(); }) : h("p", { class: "muted", text: "Read-only key: entries cannot be changed." }),
            historyBox),
        ]);
        var p1 = api("/metrics/monthly?from=" + allMonths[0] + "&to=" + allMonths[allMonths.length - 1] + "&metric=" + key).then(function (d) {
          var rows = d.periods.map(function (b) { return { period: b.period, m: b.metrics[0] || null, inProgress: b.is_in_progress }; });
          // months before the sources' history begins carry nothing to read: start at the first value
          var firstWithValue = rows.findIndex(function (x) { return x.m && x.m.value !== null && x.m.value !== undefined; });
          if (firstWithValue > 0) rows = rows.slice(firstWithValue);
          append(tableBox, h("div", { class: "table-wrap" }, h("table", { class: "data", id: "monthly-values" },
            h("thead", null, h("tr", null, ["Month", "Value", "Source", "Coverage"].map(function (c, i) { return h("th", { scope: "col", class: i === 1 ? "num" : null, text: c }); }))),
            h("tbody", null, rows.slice().reverse().map(function (x) {
              var m = x.m || {};
              var cov = m.coverage === null || m.coverage === undefined ? "" : typeof m.coverage === "object" ? JSON.stringify(m.coverage) : String(m.coverage);
              return h("tr", { "data-month": x.period, class: x.period === month ? "current" : null },
                h("th", { scope: "row", text: monthLabel(x.period) + (x.inProgress ? " (in progress)" : "") }),
                h("td", { class: "num" + (m.data_source === "manual" ? " manual" : "") }, fmt(m.value, def.unit)),
                h("td", null, sourceTag(m.data_source)),
                h("td", { class: "muted", text: m.value === null || m.value === undefined ? (cov || "no data for this month") : cov }));
            })))));
          return lineChart(chartBox, rows.map(function (x) { return monthLabel(x.period); }), [{ label: def.name, values: rows.map(function (x) { return x.m ? x.m.value : null; }) }], def.unit, null, { xLabel: "Month" });
        });
        var p2 = api("/clients?limit=1000").then(function (cl) {
          var list = cl.clients.slice(0, 200);
          return Promise.all(list.map(function (c) {
            return api("/metrics/monthly?period=" + month + "&client=" + c.client_id + "&metric=" + key).then(function (d) {
              return { c: c, m: d.metrics[0] || null };
            }, function () { return { c: c, m: null }; });
          })).then(function (rows) {
            clientsBox.textContent = "";
            rows = rows.filter(function (x) { return x.m && x.m.value !== null; });
            if (!rows.length) { append(clientsBox, h("p", { class: "muted", id: "no-client-breakdown", text: "This input has no per-client breakdown." })); return; }
            rows.sort(function (a, b) { return (b.m.value || 0) - (a.m.value || 0); });
            var total = rows.reduce(function (s, x) { return s + (x.m.value || 0); }, 0);
            append(clientsBox, h("div", { class: "table-wrap" }, h("table", { class: "data", id: "client-table" },
              h("thead", null, h("tr", null, h("th", { scope: "col", text: "Client" }), h("th", { scope: "col", class: "num", text: def.name }))),
              h("tbody", null, rows.map(function (x) {
                return h("tr", { "data-client": String(x.c.client_id) },
                  h("th", { scope: "row" }, h("a", { href: link("/clients/" + x.c.client_id, { month: month }) }, x.c.client_name)),
                  h("td", { class: "num", text: fmt(x.m.value, def.unit) }));
              })),
              h("tfoot", null, h("tr", null, h("th", { scope: "row", text: "Sum of clients" }), h("td", { class: "num", text: fmt(total, def.unit) }))))));
          });
        });
        var p3 = api("/metrics/manual?metric=" + key + "&limit=50").then(function (d) {
          if (!d.entries.length) { append(historyBox, h("p", { class: "muted", text: "No manual entries." })); return; }
          append(historyBox, h("div", { class: "table-wrap" }, h("table", { class: "data", id: "manual-history-table" },
            h("thead", null, h("tr", null, ["Month", "Action", "Value", "By", "When", "Notes"].map(function (c) { return h("th", { scope: "col", text: c }); }))),
            h("tbody", null, d.entries.map(function (e) {
              return h("tr", { class: e.is_current ? "current" : "superseded" },
                h("td", { text: e.period }), h("td", { text: e.action + (e.forced ? " (forced)" : "") + (e.is_current ? "" : " \u00B7 superseded") }),
                h("td", { class: "num", text: e.value === null ? "" : fmt(e.value, def.unit) }), h("td", { text: e.entered_by }),
                h("td", { text: ago(e.created_at) }), h("td", { text: e.notes || "" }));
            })))));
        });
        return Promise.all([p1, p2, p3]);
      });
    });
  }

  // ------------------------------------------------------------------ clients

  function viewClients() {
    initChrome(null);
    return api("/clients?limit=1000").then(function (d) {
      render([h("h1", { class: "page-title", text: "Clients (" + d.total + ")" }),
        h("div", { class: "table-wrap" }, h("table", { class: "data", id: "clients-table" },
          h("thead", null, h("tr", null, ["Client", "ConnectWise id", "NinjaOne", "QuickBooks", "Match"].map(function (c) { return h("th", { scope: "col", text: c }); }))),
          h("tbody", null, d.clients.map(function (c) {
            return h("tr", { "data-client": String(c.client_id) },
              h("th", { scope: "row" }, h("a", { href: link("/clients/" + c.client_id) }, c.client_name)),
              h("td", { text: c.identifier || "" }), h("td", { text: c.ninja_organization || "\u2014" }),
              h("td", { text: c.quickbooks_customer || "\u2014" }),
              h("td", null, h("span", { class: "match match-" + (c.match_status || "none"), text: (c.match_status === "matched" ? "\u2714 " : "\u26A0 ") + (c.match_status || "unknown") })));
          }))))]);
    });
  }

  function viewClient() {
    initChrome(null);
    var id = cfg.ctx.client_id;
    return api("/periods?type=monthly&limit=1000").then(function (pd) {
      var complete = pd.periods.map(function (p) { return p.period; });
      var last = complete.slice(-6);
      return Promise.all(last.map(function (m) { return api("/metrics/monthly?period=" + m + "&client=" + encodeURIComponent(id)); })).then(function (blocks) {
        var keys = [];
        var byKey = {};
        blocks.forEach(function (b) {
          b.metrics.forEach(function (m) {
            if (!byKey[m.key]) { byKey[m.key] = { name: m.name, unit: m.unit, values: {} }; keys.push(m.key); }
            byKey[m.key].values[b.period] = m.value;
          });
        });
        var name = blocks[0] && blocks[0].client ? blocks[0].client.client_name : id;
        render([h("p", { class: "crumbs" }, h("a", { href: link("/clients") }, "Clients"), " \u203A " + name),
          h("h1", { class: "page-title", id: "client-name", text: name }),
          h("div", { class: "table-wrap" }, h("table", { class: "data", id: "client-metrics" },
            h("thead", null, h("tr", null, h("th", { scope: "col", text: "Metric" }), last.map(function (m) { return h("th", { scope: "col", class: "num" + (m === params.get("month") ? " current" : ""), text: monthLabel(m) }); }))),
            h("tbody", null, keys.map(function (k) {
              return h("tr", { "data-metric": k }, h("th", { scope: "row" }, h("a", { href: link("/inputs/" + k) }, byKey[k].name)),
                last.map(function (m) { return h("td", { class: "num", text: fmt(byKey[k].values[m], byKey[k].unit) }); }));
            }))))]);
      });
    });
  }

  // ------------------------------------------------------------------ trends

  function viewTrends() {
    initChrome(null);
    return Promise.all([quarters(), definitions()]).then(function (r) {
      var all = r[0].periods.map(function (p) { return p.period; });
      var from = all.indexOf(params.get("from")) >= 0 ? params.get("from") : all[Math.max(0, all.length - 8)];
      var to = all.indexOf(params.get("to")) >= 0 ? params.get("to") : all[all.length - 1];
      var range = all.slice(all.indexOf(from), all.indexOf(to) + 1);
      var need = all.slice(Math.max(0, all.indexOf(from) - 4), all.indexOf(to) + 1);
      var sel = function (id, value) {
        return h("select", { id: id, name: id }, all.map(function (q) { return h("option", { value: q, selected: q === value, text: q }); }));
      };
      var inputsView = params.get("view") === "inputs";
      var form = h("form", { class: "range", id: "range-form", method: "get", action: link("/trends") },
        inputsView ? h("input", { type: "hidden", name: "view", value: "inputs" }) : null,
        h("label", null, "From ", sel("from", from)), h("label", null, "To ", sel("to", to)),
        h("button", { type: "submit", text: "Show" }));
      var tabs = h("p", { class: "month-pick", role: "navigation", "aria-label": "Trend views" },
        h("a", { class: inputsView ? "chip" : "chip active", id: "tab-smartnumbers", href: link("/trends", { from: from, to: to }), "aria-current": inputsView ? null : "page" }, "SmartNumbers by quarter"),
        h("a", { class: inputsView ? "chip active" : "chip", id: "tab-inputs", href: link("/trends", { from: from, to: to, view: "inputs" }), "aria-current": inputsView ? "page" : null }, "Inputs by month"));
      var grid = h("div", { class: "trend-grid" });
      render([h("h1", { class: "page-title", text: "Trends \u00B7 " + from + " to " + to }), tabs, form,
        h("p", { class: "muted", text: inputsView ? "Each input's monthly values over the range. Hover a point for exact values; the input's page says which months were entered by hand." : "Green band shaded; the dashed line is the same quarter a year earlier. Hover a point for exact values." }), grid]);
      if (inputsView) return inputTrends(grid, quarterMonths(from)[0], quarterMonths(to)[2], r[1]);
      return allQuarterSmartnumbers(need).then(function (rows) {
        var byQ = {};
        rows.forEach(function (d) { byQ[d.period] = {}; d.smartnumbers.forEach(function (s) { byQ[d.period][s.key] = s; }); });
        var latest = rows[rows.length - 1];
        var charts = groupSmartnumbers(latest.smartnumbers).map(function (g) {
          return g.items.map(function (sn) {
            var box = h("div", { class: "chart", "data-key": sn.key });
            append(grid, h("section", { class: "trend-card" }, h("h2", null, h("a", { href: link("/kpi/" + sn.key), text: sn.name })),
              h("p", { class: "muted small", text: g.title + (sn.threshold ? " \u00B7 " + bandText(sn.threshold, sn.unit) : "") }), box));
            var vals = range.map(function (q) { return byQ[q] && byQ[q][sn.key] ? byQ[q][sn.key].value : null; });
            var prev = range.map(function (q) { var p = byQ[prevYearQuarter(q)]; return p && p[sn.key] ? p[sn.key].value : null; });
            return lineChart(box, range, [{ label: "Value", values: vals }, { label: "Last year", values: prev }], sn.unit, sn.threshold, { height: 180 });
          });
        });
        return Promise.all([].concat.apply([], charts));
      });
    });
  }

  function inputTrends(grid, first, last, defs) {
    return api("/metrics/monthly?from=" + first + "&to=" + last).then(function (d) {
      var months = d.periods.map(function (b) { return b.period; });
      var series = {};
      var order = [];
      d.periods.forEach(function (b, i) {
        b.metrics.forEach(function (m) {
          if ((defs[m.key] || {}).is_smartnumber) return;
          if (!series[m.key]) { series[m.key] = { name: m.name, unit: m.unit, category: m.category, values: months.map(function () { return null; }) }; order.push(m.key); }
          series[m.key].values[i] = m.value;
        });
      });
      order.sort(function (a, b) { return ((defs[a] || {}).display_order || 0) - ((defs[b] || {}).display_order || 0); });
      return Promise.all(order.map(function (k) {
        var box = h("div", { class: "chart", "data-key": k });
        append(grid, h("section", { class: "trend-card" }, h("h2", null, h("a", { href: link("/inputs/" + k), text: series[k].name })),
          h("p", { class: "muted small", text: (series[k].category || "") + " \u00B7 " + ((defs[k] || {}).source || "") }), box));
        return lineChart(box, months.map(monthLabel), [{ label: "Value", values: series[k].values }], series[k].unit, null, { height: 160, xLabel: "Month" });
      }));
    });
  }

  // ------------------------------------------------------------------ MBR grid

  function mbrTable(cur, prev, defs, editable) {
    var prevBy = {};
    (prev ? prev.metrics : []).forEach(function (m) { prevBy[m.key] = m; });
    var cats = [];
    var byCat = {};
    cur.metrics.slice().sort(function (a, b) { return ((defs[a.key] || {}).display_order || 0) - ((defs[b.key] || {}).display_order || 0); }).forEach(function (m) {
      var d = defs[m.key] || {};
      if (d.is_smartnumber || d.metric_type === "smartnumber") return;
      var c = m.category || "Other";
      if (!byCat[c]) { byCat[c] = []; cats.push(c); }
      byCat[c].push(m);
    });
    var table = h("table", { class: "data mbr", id: "mbr-table" },
      h("thead", null, h("tr", null, h("th", { scope: "col", text: "Input" }),
        cur.months.map(function (m) { return h("th", { scope: "col", class: "num", text: monthLabel(m) }); }),
        h("th", { scope: "col", class: "num", text: cur.period }),
        h("th", { scope: "col", class: "num", text: prev ? prev.period : prevYearQuarter(cur.period) }))));
    cats.forEach(function (c) {
      append(table, h("tbody", null, h("tr", { class: "cat-row" }, h("th", { colspan: String(cur.months.length + 3), scope: "rowgroup", text: c })),
        byCat[c].map(function (m) {
          var d = defs[m.key] || {};
          var canEdit = editable && (d.collection === "manual" || d.source === "Manual" || d.collection === "collected_or_manual");
          return h("tr", { "data-metric": m.key },
            h("th", { scope: "row" }, h("a", { href: link("/inputs/" + m.key, { period: cur.period }) }, m.name)),
            cur.months.map(function (mo) {
              var part = (m.monthly_values || []).find(function (x) { return x.period === mo; }) || {};
              var manual = part.data_source === "manual";
              var td = h("td", { class: "num" + (manual ? " manual" : "") + (canEdit ? " editable" : ""), "data-month": mo, "data-value": part.value === null || part.value === undefined ? "" : String(part.value) },
                fmt(part.value, m.unit), manual ? h("span", { class: "manual-mark", title: "entered by hand" }, " \u270E") : null);
              if (canEdit) {
                td.tabIndex = 0;
                td.setAttribute("role", "button");
                td.setAttribute("aria-label", "Edit " + m.name + ", " + monthLabel(mo));
                var start = function () { inlineEdit(td, m, mo, part); };
                td.addEventListener("dblclick", start);
                td.addEventListener("keydown", function (ev) { if (ev.key === "Enter" && ev.target === td) start(); });
              }
              return td;
            }),
            h("td", { class: "num strong", text: fmt(m.value, m.unit) }),
            h("td", { class: "num muted", text: prevBy[m.key] ? fmt(prevBy[m.key].value, m.unit) : "N/A" }));
        })));
    });
    return h("div", { class: "table-wrap" }, table);
  }

  function inlineEdit(td, m, month, part) {
    if (td.querySelector("input")) return;
    var input = h("input", { type: "number", step: "any", value: part.value === null || part.value === undefined ? "" : String(part.value), "aria-label": m.name + " " + month, class: "inline-input" });
    var err = h("span", { class: "field-error inline", role: "alert" });
    td.textContent = "";
    append(td, input, err);
    input.focus();
    input.select();
    input.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape") { window.location.reload(); return; }
      if (ev.key !== "Enter") return;
      ev.preventDefault();
      var collected = part.data_source === "collected" && part.value !== null && part.value !== undefined;
      api("/metrics/manual", { method: "POST", body: { period: month, force: collected, metrics: [{ metric: m.key, value: Number(input.value) }] } })
        .then(function () { window.location.reload(); }, function (e) { err.textContent = e.message; input.setAttribute("aria-invalid", "true"); });
    });
  }

  function viewMbr() {
    return selectedQuarter().then(function (period) {
      initChrome(period);
      initPicker(period, function (q) { return link("/mbr", { period: q }); });
      pageActions(period);
      var prevQ = prevYearQuarter(period);
      return Promise.all([api("/metrics/quarterly?period=" + period), api("/metrics/quarterly?period=" + prevQ).catch(function () { return null; }), definitions()]).then(function (r) {
        render([h("h1", { class: "page-title", text: "Monthly Business Review \u00B7 " + period }),
          h("p", { class: "muted", text: "\u270E marks a value entered by hand." + (cfg.admin ? " Double-click (or Enter on) a manual cell to edit it; Enter saves, Escape cancels." : "") }),
          mbrTable(r[0], r[1], r[2], cfg.admin)]);
      });
    });
  }

  // ------------------------------------------------------------------ settings: thresholds, manual entry, refresh

  function judge(v, t) {
    /* Preview only, the same bands the API documents (bounds inclusive); the API decides. */
    if (v === null || v === undefined || !t) return null;
    var ge = function (x, b) { return b === null || b === undefined || b === "" || x >= Number(b); };
    var le = function (x, b) { return b === null || b === undefined || b === "" || x <= Number(b); };
    if (t.direction === "higher_is_better") return ge(v, t.green_min) ? "green" : ge(v, t.yellow_min) && t.yellow_min !== null && t.yellow_min !== "" ? "yellow" : "red";
    if (t.direction === "lower_is_better") return le(v, t.green_max) ? "green" : le(v, t.yellow_max) && t.yellow_max !== null && t.yellow_max !== "" ? "yellow" : "red";
    if (ge(v, t.green_min) && le(v, t.green_max)) return "green";
    if (ge(v, t.yellow_min) && le(v, t.yellow_max)) return "yellow";
    return "red";
  }

  function thresholdEditor(defs, all) {
    var sns = Object.keys(defs).filter(function (k) { return defs[k].is_smartnumber; })
      .sort(function (a, b) { return (defs[a].display_order || 0) - (defs[b].display_order || 0); });
    var pick = h("select", { id: "th-metric", name: "metric" }, sns.map(function (k) { return h("option", { value: k, text: defs[k].name }); }));
    var dir = h("select", { id: "th-direction", name: "direction" }, ["higher_is_better", "lower_is_better", "in_range"].map(function (d) { return h("option", { value: d, text: d.replace(/_/g, " ") }); }));
    var fields = {};
    var bandInputs = ["green_min", "green_max", "yellow_min", "yellow_max"].map(function (b) {
      fields[b] = h("input", { type: "number", step: "any", id: "th-" + b, name: b });
      return h("div", { class: "field" }, h("label", { for: "th-" + b, text: b.replace("_", " ") }), fields[b], h("span", { class: "field-error", id: "th-" + b + "-error", role: "alert" }));
    });
    var err = h("p", { class: "field-error", id: "th-error", role: "alert", hidden: true });
    var preview = h("div", { id: "th-preview", "aria-live": "polite" });
    var hint = h("p", { class: "muted", id: "th-unit" });
    var history = {};
    function current() {
      var t = { direction: dir.value };
      Object.keys(fields).forEach(function (b) { t[b] = fields[b].value === "" ? null : Number(fields[b].value); });
      return t;
    }
    function load() {
      var key = pick.value;
      hint.textContent = "Unit: " + defs[key].unit + (defs[key].unit === "percent" ? " \u2014 enter fractions (0.2 = 20%)." : ".");
      api("/thresholds/" + key).then(function (t) {
        dir.value = t.direction;
        Object.keys(fields).forEach(function (b) { fields[b].value = t[b] === null || t[b] === undefined ? "" : String(t[b]); });
        history[key] = t;
        return allQuarterSmartnumbers(all);
      }).then(function (rows) {
        history.rows = rows;
        showPreview();
      });
    }
    function showPreview() {
      var key = pick.value;
      if (!history.rows) return;
      var t = current();
      preview.textContent = "";
      var changed = 0;
      var items = history.rows.map(function (d) {
        var sn = d.smartnumbers.find(function (x) { return x.key === key; });
        if (!sn) return null;
        var before = d.is_in_progress ? null : sn.status;
        var after = d.is_in_progress ? null : judge(sn.value, t);
        if (before !== after) changed++;
        return h("li", { class: before !== after ? "changes-colour" : null, "data-quarter": d.period },
          d.period + ": " + fmt(sn.value, sn.unit) + " \u2014 ", statusNode(before, false), before !== after ? [" \u2192 ", statusNode(after, false)] : "");
      });
      append(preview, h("p", { class: "strong", id: "th-preview-count", text: changed + " quarter(s) would change colour" }), h("ul", { class: "preview-list" }, items));
    }
    var form = h("form", { id: "threshold-form", class: "threshold-form", novalidate: true },
      h("div", { class: "field" }, h("label", { for: "th-metric", text: "SmartNumber" }), pick),
      h("div", { class: "field" }, h("label", { for: "th-direction", text: "Direction" }), dir), hint,
      h("div", { class: "band-fields" }, bandInputs), err,
      h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", id: "th-save", text: "Save threshold" }),
        h("button", { type: "button", id: "th-reset", text: "Back to default" })),
      h("h3", { text: "Preview" }), preview);
    pick.addEventListener("change", load);
    form.addEventListener("input", function (ev) { if (ev.target !== pick) showPreview(); });
    function fail(e) {
      var p = e.body && e.body.param;
      if (!p) {  // the API names the bound it refuses in its message: put it next to that field
        var at = -1;
        Object.keys(fields).forEach(function (b) {
          var i = e.message.indexOf(b);
          if (i >= 0 && (at < 0 || i < at)) { at = i; p = b; }
        });
      }
      Object.keys(fields).forEach(function (b) { document.getElementById("th-" + b + "-error").textContent = ""; fields[b].removeAttribute("aria-invalid"); });
      if (p && fields[p]) {
        document.getElementById("th-" + p + "-error").textContent = e.message;
        fields[p].setAttribute("aria-invalid", "true");
        fields[p].focus();
      } else { err.hidden = false; err.textContent = e.message; }
    }
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      err.hidden = true;
      var body = current();
      body.metric = pick.value;
      api("/thresholds/" + pick.value, { method: "PUT", body: body }).then(function () {
        err.hidden = false; err.className = "ok-box"; err.textContent = "Saved: " + defs[pick.value].name + " now uses these bands.";
        load();
      }, fail);
    });
    form.querySelector("#th-reset").addEventListener("click", function () {
      api("/thresholds/" + pick.value, { method: "DELETE" }).then(load, fail);
    });
    setTimeout(load, 0);
    return form;
  }

  function refreshPanel() {
    var status = h("div", { id: "refresh-status", "aria-live": "polite" });
    var runs = h("div", { id: "refresh-runs" });
    var button = h("button", { type: "button", class: "primary", id: "refresh-start", text: "Refresh now" });
    function showRun(run) {
      status.textContent = "";
      var done = ["succeeded", "partial", "failed"].indexOf(run.status) >= 0;
      var outcome = {
        succeeded: "\u2714 Refresh succeeded: the numbers are up to date.",
        partial: "\u26A0 Partial: " + ((run.steps || []).filter(function (x) { return x.status === "failed"; }).map(function (x) { return x.name; }).join(", ") || "a source") +
          " failed; its data stays as of its last good load (banner above). The rest was rebuilt.",
        failed: "\u2716 Failed: the previous numbers are kept." + (run.error ? " " + run.error : ""),
      }[run.status];
      append(status, h("p", { class: "run-head", id: "refresh-outcome", "data-status": run.status },
        done ? outcome : "\u23F3 " + run.status + "\u2026 " + Math.round(run.progress || 0) + "%"),
        h("progress", { max: "100", value: String(run.progress || 0), "aria-label": "Refresh progress" }),
        h("div", { class: "table-wrap" }, h("table", { class: "data steps" }, h("thead", null, h("tr", null, ["Step", "Status", "Rows", "Time", "Error"].map(function (c) { return h("th", { scope: "col", text: c }); }))),
          h("tbody", null, (run.steps || []).map(function (s) {
            return h("tr", { "data-step": s.name, class: "step-" + s.status },
              h("td", { text: s.name }), h("td", { text: (s.status === "succeeded" ? "\u2714 " : s.status === "failed" ? "\u2716 " : s.status === "running" ? "\u23F3 " : "") + s.status }),
              h("td", { class: "num", text: s.rows_loaded === null || s.rows_loaded === undefined ? "" : String(s.rows_loaded) }),
              h("td", { class: "num", text: s.duration_ms ? (s.duration_ms / 1000).toFixed(1) + " s" : "" }),
              h("td", { text: s.error || "" }));
          })))));
      if (done) { button.disabled = !cfg.admin; loadRuns(); freshness(); }
      return done;
    }
    function poll(batch) {
      fetch(cfg.api + "/refresh/" + batch, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" })
        .then(function (r) { if (r.status === 401) { toSignin(true); throw new Error("signed out"); } return r.json(); })
        .then(function (run) { if (!showRun(run)) setTimeout(function () { poll(batch); }, 1000); })
        .catch(function () { setTimeout(function () { poll(batch); }, 2000); });
    }
    function loadRuns() {
      fetch(cfg.api + "/refresh?limit=10", { credentials: "same-origin", cache: "no-store" }).then(function (r) { return r.json(); }).then(function (d) {
        runs.textContent = "";
        append(runs, h("div", { class: "table-wrap" }, h("table", { class: "data", id: "runs-table" }, h("thead", null, h("tr", null, ["Run", "Status", "Trigger", "Started", "Duration"].map(function (c) { return h("th", { scope: "col", text: c }); }))),
          h("tbody", null, (d.runs || []).map(function (r) {
            return h("tr", { "data-batch": r.batch_id }, h("td", null, h("code", { text: r.batch_id })), h("td", { text: r.status }), h("td", { text: r.trigger }),
              h("td", { text: ago(r.started_at) }), h("td", { class: "num", text: r.duration_seconds ? r.duration_seconds.toFixed(0) + " s" : "" }));
          })))));
        var running = (d.runs || []).find(function (r) { return r.status === "queued" || r.status === "running"; });
        if (running && !status.dataset.following) { status.dataset.following = running.batch_id; button.disabled = true; poll(running.batch_id); }
      });
    }
    button.addEventListener("click", function () {
      button.disabled = true;
      api("/refresh", { method: "POST", body: {} }).then(function (r) {
        status.dataset.following = r.batch_id;
        poll(r.batch_id);
      }, function (e) {
        if (e.body && e.body.batch_id) { status.dataset.following = e.body.batch_id; poll(e.body.batch_id); return; }
        button.disabled = false;
        status.textContent = "";
        append(status, errorBox(e));
      });
    });
    loadRuns();
    return h("div", null, cfg.admin ? button : h("p", { class: "muted", text: "Read-only key: refresh is for admins." }), status, h("h3", { text: "Recent runs" }), runs);
  }

  // API keys (admins only): the list, a create form that shows the new secret once,
  // revoke behind a confirmation dialog. The API refuses revoking the key this session
  // was opened with (OWN_KEY) and single-sign-on rows (OIDC_KEY); the table says so.
  function apiKeysPanel() {
    var list = h("div", { id: "keys-list", "aria-live": "polite" });
    var nameIn = h("input", { type: "text", id: "key-name", name: "name", maxlength: "100", autocomplete: "off", "aria-describedby": "key-name-hint key-name-error" });
    var scopeIn = h("select", { id: "key-scope", name: "scope" },
      h("option", { value: "read", text: "read \u2014 view only" }),
      h("option", { value: "admin", text: "admin \u2014 can also change data and keys" }));
    var nameErr = h("span", { class: "field-error", id: "key-name-error", role: "alert" });
    var formErr = h("p", { class: "field-error", id: "key-error", role: "alert" });
    var secretBox = h("div", { class: "secret-box", id: "key-secret-box", hidden: true, tabindex: "-1" });
    var form = h("form", { id: "key-form", class: "key-form", novalidate: true },
      h("div", { class: "key-form-fields" },
        h("div", { class: "field" }, h("label", { for: "key-name", text: "Name" }), nameIn,
          h("span", { class: "muted small", id: "key-name-hint", text: "Who or what uses it, e.g. \u201CPower BI\u201D or \u201CJane\u2019s laptop\u201D." }), nameErr),
        h("div", { class: "field" }, h("label", { for: "key-scope", text: "Scope" }), scopeIn)),
      formErr,
      h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", id: "key-create", text: "Create key" })));
    var dialog = h("dialog", { id: "revoke-dialog", class: "confirm-dialog", "aria-labelledby": "revoke-title", "aria-describedby": "revoke-text" });
    var pending = null;

    function clearErrors() {
      nameErr.textContent = ""; formErr.textContent = "";
      nameIn.removeAttribute("aria-invalid");
    }
    function fieldError(message) {
      nameErr.textContent = message;
      nameIn.setAttribute("aria-invalid", "true");
      nameIn.focus();
    }
    function showSecret(created) {
      var k = created.key;
      var secretIn = h("input", { type: "text", id: "key-secret", readonly: true, value: created.secret, spellcheck: "false", autocomplete: "off", "aria-label": "The new key " + k.name });
      var copied = h("span", { class: "muted small", id: "key-copy-status", role: "status" });
      var copy = h("button", { type: "button", class: "primary", id: "key-copy", text: "Copy" });
      var done = h("button", { type: "button", id: "key-secret-done", text: "Done \u2014 hide it" });
      copy.addEventListener("click", function () {
        secretIn.focus(); secretIn.select();
        var ok = function () { copied.textContent = "\u2714 Copied to the clipboard."; };
        var manual = function () { copied.textContent = "Selected: press Ctrl+C (\u2318C) to copy."; };
        if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(created.secret).then(ok, function () { (document.execCommand && document.execCommand("copy") ? ok : manual)(); });
        else (document.execCommand && document.execCommand("copy") ? ok : manual)();
      });
      done.addEventListener("click", function () { secretBox.hidden = true; secretBox.textContent = ""; nameIn.focus(); });
      secretBox.textContent = "";
      append(secretBox,
        h("p", { class: "secret-title" }, h("strong", { text: "\u2714 Key \u201C" + k.name + "\u201D created (" + k.scope + ")." })),
        h("p", { class: "secret-warning", id: "key-secret-warning" }, h("strong", { text: "Copy it now: you will not see this again." }),
          " Only a fingerprint is stored; if it is lost, revoke it and create another."),
        h("div", { class: "secret-row" }, secretIn, copy), copied,
        h("p", { class: "muted small", text: "Send it as the X-API-Key header (or Authorization: Bearer), or paste it into the sign-in page." }),
        h("div", { class: "buttons" }, done));
      secretBox.hidden = false;
      secretIn.focus(); secretIn.select();
    }
    function statusCell(k) {
      return k.revoked
        ? h("td", { "data-label": "Status", class: "key-status" }, h("span", null, h("span", { class: "status status-revoked", text: "\u2716 Revoked" }), " ", h("span", { class: "small", text: ago(k.revoked_at) })))
        : h("td", { "data-label": "Status", class: "key-status" }, h("span", { class: "status status-active", text: "\u2714 Active" }));
    }
    function actionCell(k) {
      var cell = h("td", { "data-label": "Action", class: "key-action" });
      if (k.revoked) append(cell, h("span", { class: "muted", text: "\u2014" }));
      else if (k.kind === "oidc") append(cell, h("span", { class: "muted small", text: "Single sign-on: managed by QBR_OIDC_ALLOW" }));
      else if (k.current) append(cell, h("span", { class: "muted small", text: "You are signed in with this key" }));
      else append(cell, h("button", { type: "button", class: "danger revoke", "data-key-id": String(k.id), "aria-label": "Revoke key " + k.name, text: "Revoke", onclick: function () { confirmRevoke(k); } }));
      return cell;
    }
    function load(highlight) {
      return api("/keys").then(function (d) {
        list.textContent = "";
        var keys = d.keys.slice().sort(function (a, b) { return (a.revoked - b.revoked) || (a.created_at < b.created_at ? 1 : -1); });
        var active = keys.filter(function (k) { return !k.revoked; }).length;
        append(list, h("p", { class: "muted small", id: "keys-count", text: active + " active, " + (keys.length - active) + " revoked." }),
          h("div", { class: "table-wrap" }, h("table", { class: "data keys", id: "keys-table" },
            h("caption", { class: "sr-only", text: "API keys, active first, newest first" }),
            h("thead", null, h("tr", null, ["Name", "Key", "Scope", "Created", "Last used", "Status", "Action"].map(function (c) { return h("th", { scope: "col", text: c }); }))),
            h("tbody", null, keys.map(function (k) {
              var oidc = k.kind === "oidc";
              return h("tr", { "data-key-id": String(k.id), "data-name": k.name, "data-status": k.revoked ? "revoked" : "active", class: (k.revoked ? "key-revoked" : "") + (k.id === highlight ? " current" : "") },
                h("th", { scope: "row", "data-label": "Name" }, h("span", { class: "key-name" }, oidc ? k.name.slice(5) : k.name,
                  oidc ? h("span", { class: "tag", text: "single sign-on" }) : null,
                  k.current ? h("span", { class: "tag tag-you", text: "you" }) : null)),
                h("td", { "data-label": "Key" }, oidc ? h("span", { class: "muted", text: "no key (signs in with SSO)" }) : h("code", { text: "qbr_" + k.key_prefix + "_\u2026" })),
                h("td", { "data-label": "Scope", text: k.scope }),
                h("td", { "data-label": "Created", text: ago(k.created_at) }),
                h("td", { "data-label": "Last used", text: ago(k.last_used_at) }),
                statusCell(k), actionCell(k));
            })))));
      }, function (e) { list.textContent = ""; append(list, errorBox(e)); });
    }
    function confirmRevoke(k) {
      pending = k;
      dialog.textContent = "";
      var cancel = h("button", { type: "button", id: "revoke-cancel", text: "Cancel", autofocus: true });
      var ok = h("button", { type: "button", class: "danger", id: "revoke-confirm", text: "Revoke \u201C" + k.name + "\u201D" });
      var err = h("p", { class: "field-error", id: "revoke-error", role: "alert" });
      append(dialog, h("h3", { id: "revoke-title", text: "Revoke key \u201C" + k.name + "\u201D?" }),
        h("p", { id: "revoke-text", text: "Everything using it (scripts, BI tools, dashboard sessions opened with it) is refused from its next request. This cannot be undone: to restore access, create a new key." }),
        err, h("div", { class: "buttons" }, ok, cancel));
      cancel.addEventListener("click", function () { dialog.close(); });
      ok.addEventListener("click", function () {
        ok.disabled = true;
        api("/keys/" + k.id, { method: "DELETE" }).then(function () {
          dialog.close();
          return load().then(function () {
            var row = list.querySelector('tr[data-key-id="' + k.id + '"] th');
            if (row) { row.setAttribute("tabindex", "-1"); row.focus(); }
          });
        }, function (e) { ok.disabled = false; err.textContent = e.message; });
      });
      dialog.showModal();
      cancel.focus();
    }
    dialog.addEventListener("close", function () {
      var k = pending; pending = null;
      if (!k) return;
      var again = list.querySelector('button.revoke[data-key-id="' + k.id + '"]');
      if (again) again.focus();
    });
    nameIn.addEventListener("input", clearErrors);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      clearErrors();
      var name = nameIn.value.trim();
      if (!name) { fieldError("Give the key a name."); return; }
      var button = form.querySelector("#key-create");
      button.disabled = true;
      api("/keys", { method: "POST", body: { name: name, scope: scopeIn.value } }).then(function (created) {
        nameIn.value = "";
        showSecret(created);
        return load(created.key.id);
      }, function (e) {
        var msg = (e.message || "").replace(/^Invalid body: \$\.name: /, "");
        if ((e.body && e.body.param === "name") || /\$\.name|'name'/.test(e.message || "")) fieldError(msg);
        else formErr.textContent = e.message;
      }).finally(function () { button.disabled = false; });
    });
    load();
    return h("div", null,
      h("p", { class: "muted", text: "Keys let scripts, BI tools and people sign in. The key itself is shown once, when it is created; only a fingerprint and its first characters are stored." }),
      h("h3", { text: "New key" }), form, secretBox, h("h3", { text: "Keys" }), list, dialog);
  }

  function goToSection() {
    var id;
    try { id = decodeURIComponent(window.location.hash.slice(1)); } catch (e) { return; }  // "#%" in a link
    var target = id && document.getElementById(id);
    if (!target || target.tagName !== "SECTION") return;
    target.setAttribute("tabindex", "-1");
    target.scrollIntoView({ block: "start" });
    target.focus({ preventScroll: true });
  }
  window.addEventListener("hashchange", function () { if (cfg.view === "settings") goToSection(); });

  function viewSettings() {
    initChrome(null);
    return Promise.all([definitions(), quarters()]).then(function (r) {
      var defs = r[0];
      var all = r[1].periods.map(function (p) { return p.period; });
      var manualKeys = Object.keys(defs).filter(function (k) { return defs[k].collection === "manual" || defs[k].source === "Manual"; });
      var manualPick = h("select", { id: "manual-metric" }, manualKeys.map(function (k) { return h("option", { value: k, text: defs[k].name }); }));
      var lastMonth = quarterMonths(r[1].latest_complete || all[all.length - 1])[2];
      var manualBox = h("div", { id: "manual-box" });
      function showManual() {
        manualBox.textContent = "";
        append(manualBox, manualForm(manualPick.value, defs[manualPick.value].unit, lastMonth, function () {
          manualBox.insertBefore(h("p", { class: "ok-box", id: "manual-saved", text: "Saved." }), manualBox.firstChild);
        }), h("p", null, h("a", { href: link("/inputs/" + manualPick.value) }, "History and monthly values of this input")));
      }
      manualPick.addEventListener("change", showManual);
      var sections = [["refresh-panel", "Refresh"], ["threshold-panel", "Thresholds"]];
      if (cfg.admin) sections.push(["manual-panel", "Manual entry"], ["api-keys", "API keys"]);
      render([h("h1", { class: "page-title", text: "Settings" }),
        h("nav", { class: "section-nav", "aria-label": "Settings sections" }, h("span", { class: "muted", text: "On this page:" }),
          sections.map(function (x) { return h("a", { href: "#" + x[0], text: x[1] }); })),
        h("section", { class: "panel", id: "refresh-panel" }, h("h2", { text: "Refresh" }), refreshPanel()),
        cfg.admin ? h("section", { class: "panel", id: "threshold-panel" }, h("h2", { text: "Thresholds" }), thresholdEditor(defs, all)) : h("section", { class: "panel" }, h("h2", { text: "Thresholds" }), h("p", { class: "muted", id: "read-only-note", text: "Read-only key: thresholds and manual values can be viewed on each SmartNumber, not changed." })),
        cfg.admin ? h("section", { class: "panel", id: "manual-panel" }, h("h2", { text: "Manual entry" }), h("div", { class: "field" }, h("label", { for: "manual-metric", text: "Input" }), manualPick), manualBox) : null,
        cfg.admin ? h("section", { class: "panel", id: "api-keys", "aria-labelledby": "api-keys-title" }, h("h2", { id: "api-keys-title", text: "API keys" }), apiKeysPanel()) : null,
      ]);
      if (cfg.admin) showManual();
      goToSection();
    });
  }

  // ------------------------------------------------------------------ print view

  function viewPrint() {
    return selectedQuarter().then(function (period) {
      return Promise.all([api("/smartnumbers?period=" + period), definitions(), api("/metrics/quarterly?period=" + period),
        api("/metrics/quarterly?period=" + prevYearQuarter(period)).catch(function () { return null; }), quarters(), api("/health").catch(function () { return {}; })]).then(function (r) {
        var data = r[0];
        var asOf = r[5].last_successful_refresh ? ago(r[5].last_successful_refresh.finished_at) : "unknown";
        var all = r[4].periods.map(function (p) { return p.period; });
        var idx = all.indexOf(period);
        var range = all.slice(Math.max(0, idx - 7), idx + 1);
        var grid = h("div", { class: "trend-grid print-trends" });
        // organization, quarter and as-of date on every printed page (CSS page margin boxes)
        var running = (cfg.organization + " \u00B7 Quarterly Business Review " + period + " \u00B7 data as of " + asOf).replace(/["\\\n]/g, " ");
        append(document.head, h("style", { id: "print-running-header", text: '@page { @top-left { content: "' + running + '"; font-size: 9px; color: #333; } @bottom-right { content: "Page " counter(page) " of " counter(pages); font-size: 9px; color: #333; } }' }));
        render([
          h("div", { class: "print-header", id: "print-header" }, h("strong", { text: cfg.organization }), " \u00B7 Quarterly Business Review " + period + " \u00B7 data as of " + asOf),
          h("div", { class: "screen-only print-bar" }, h("a", { href: link("/", { period: period }) }, "\u2190 Back"),
            h("button", { type: "button", class: "primary", id: "print-now", onclick: function () { window.print(); }, text: "Print / save as PDF" })),
          h("h1", { class: "page-title", text: cfg.organization + " \u2014 QBR " + period }),
          h("p", { class: "muted", text: "Months: " + data.months.map(monthLabel).join(", ") + ". Data as of " + asOf + "." }),
          h("section", { class: "print-section" }, h("h2", { text: "Scorecard" }), scorecardBody(data, r[1], { static: true })),
          h("section", { class: "print-section page-break" }, h("h2", { text: "Monthly Business Review" }), mbrTable(r[2], r[3], r[1], false)),
          h("section", { class: "print-section page-break" }, h("h2", { text: "Trends " + range[0] + " to " + period }), grid),
        ]);
        return allQuarterSmartnumbers(all.slice(Math.max(0, idx - 11), idx + 1)).then(function (rows) {
          var byQ = {};
          rows.forEach(function (d) { byQ[d.period] = {}; d.smartnumbers.forEach(function (s) { byQ[d.period][s.key] = s; }); });
          return Promise.all(groupSmartnumbers(data.smartnumbers).map(function (g) {
            return Promise.all(g.items.map(function (sn) {
              var box = h("div", { class: "chart" });
              append(grid, h("div", { class: "trend-card" }, h("h3", { text: sn.name }), box));
              return lineChart(box, range, [{ label: "Value", values: range.map(function (q) { return byQ[q] && byQ[q][sn.key] ? byQ[q][sn.key].value : null; }) },
                { label: "Last year", values: range.map(function (q) { var p = byQ[prevYearQuarter(q)]; return p && p[sn.key] ? p[sn.key].value : null; }) }], sn.unit, sn.threshold, { height: 150 });
            }));
          }));
        }).then(function () { document.body.classList.add("print-ready"); });
      });
    });
  }

  // ------------------------------------------------------------------ present mode

  function viewPresent() {
    return selectedQuarter().then(function (period) {
      return Promise.all([api("/smartnumbers?period=" + period), definitions()]).then(function (r) {
        var data = r[0];
        var groups = groupSmartnumbers(data.smartnumbers);
        var provisional = !!data.is_in_progress;
        var slides = [h("section", { class: "slide title-slide", "data-slide": "0" },
          h("p", { class: "org-name", text: cfg.organization }), h("h1", { text: "Quarterly Business Review" }),
          h("p", { class: "big", text: period + (provisional ? " (in progress)" : "") }),
          h("p", { class: "muted", text: "\u2190 \u2192 to move \u00B7 F for full screen \u00B7 Esc to leave" }))];
        groups.forEach(function (g, i) {
          slides.push(h("section", { class: "slide", "data-slide": String(i + 1), "data-category": g.title },
            h("h2", { text: g.title + " \u00B7 " + period }),
            h("div", { class: "tiles" }, g.items.map(function (sn) { return tile(sn, r[1], period, provisional, { static: true }); }))));
        });
        var counter = h("p", { class: "slide-counter", id: "slide-counter", "aria-live": "polite" });
        var deck = h("div", { class: "deck", id: "deck" }, slides, counter,
          h("div", { class: "deck-nav" }, h("button", { type: "button", id: "prev-slide", "aria-label": "Previous slide", text: "\u2190" }),
            h("button", { type: "button", id: "next-slide", "aria-label": "Next slide", text: "\u2192" }),
            h("button", { type: "button", id: "fullscreen", text: "Full screen" }),
            h("a", { class: "button", id: "exit-present", href: link("/", { period: period }), text: "Exit" })));
        render(deck);
        var n = slides.length;
        var at = Math.min(Math.max(parseInt((window.location.hash || "#0").slice(1), 10) || 0, 0), n - 1);
        function show(i) {
          at = Math.min(Math.max(i, 0), n - 1);
          slides.forEach(function (s, j) { s.hidden = j !== at; });
          counter.textContent = (at + 1) + " / " + n + (at ? " \u00B7 " + slides[at].dataset.category : "");
          if (window.location.hash !== "#" + at) history.replaceState(null, "", "#" + at);
        }
        document.addEventListener("keydown", function (ev) {
          if (ev.key === "ArrowRight" || ev.key === "PageDown" || ev.key === " ") { ev.preventDefault(); show(at + 1); }
          else if (ev.key === "ArrowLeft" || ev.key === "PageUp") { ev.preventDefault(); show(at - 1); }
          else if (ev.key === "Home") show(0);
          else if (ev.key === "End") show(n - 1);
          else if (ev.key === "f" || ev.key === "F") toggleFull();
          else if (ev.key === "Escape" && !document.fullscreenElement) window.location.assign(link("/", { period: period }));
        });
        function toggleFull() {
          if (document.fullscreenElement) document.exitFullscreen();
          else if (document.documentElement.requestFullscreen) document.documentElement.requestFullscreen().catch(function () {});
        }
        document.getElementById("prev-slide").addEventListener("click", function () { show(at - 1); });
        document.getElementById("next-slide").addEventListener("click", function () { show(at + 1); });
        document.getElementById("fullscreen").addEventListener("click", toggleFull);
        show(at);
      });
    });
  }

  // ------------------------------------------------------------------ boot

  var views = {
    scorecard: viewScorecard, smartnumber: viewSmartnumber, input: viewInput, clients: viewClients,
    client: viewClient, trends: viewTrends, mbr: viewMbr, settings: viewSettings, print: viewPrint, present: viewPresent,
  };
  (views[cfg.view] || viewScorecard)().then(function () {
    document.body.classList.add("ready");
    document.body.dataset.ready = "1";
  }, function (err) {
    render(errorBox(err));
    document.body.dataset.ready = "error";
  });
})();
