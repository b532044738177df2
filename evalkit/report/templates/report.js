/* evalkit report: the cases grid and the detail panel, drawn from the JSON in #evalkit-data.
   Every piece of case or model text reaches the page through textContent, never innerHTML. */
(function () {
  "use strict";
  var T0 = performance.now();
  var DATA = JSON.parse(document.getElementById("evalkit-data").textContent);
  var PAGE = 50;
  var V = DATA.variants, CASES = DATA.cases, RES = DATA.results;
  var state = { verdict: "", variant: "", disagree: false, flipped: false, text: "", page: 0, rows: [], sel: null };
  var FLIPPED = {};
  (DATA.flipped || []).forEach(function (id) { FLIPPED[id] = 1; });

  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      if (k === "class") node.className = attrs[k];
      else if (k === "text") node.textContent = attrs[k];
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), attrs[k]);
      else node.setAttribute(k, attrs[k]);
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) continue;
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return node;
  }
  function $(id) { return document.getElementById(id); }
  function sorted(x) {
    if (Array.isArray(x)) return x.map(sorted);
    if (x && typeof x === "object") {
      var out = {}; Object.keys(x).sort().forEach(function (k) { out[k] = sorted(x[k]); }); return out;
    }
    return x;
  }
  function show(x) { return x === undefined ? "—" : JSON.stringify(x); }
  function pretty(x) { return typeof x === "string" ? x : JSON.stringify(x, null, 2); }
  function label(v) { return v === "correct" ? "✓ correct" : v.replace(/_/g, " "); }
  /* the grid's labels are short so that six or more variant columns fit beside the detail panel */
  var SHORT = { correct: "✓ correct", wrong_function: "wrong fn", wrong_arguments: "wrong args",
    invalid_arguments: "invalid args", wrong_call_count: "call count", hallucinated_call: "hallucinated",
    over_refusal: "over-refusal", error: "error" };
  function shortLabel(v) { return SHORT[v] || label(v); }

  /* ---- filtering ---- */
  function attempts(c, vi) { return (c.cells[vi] || []).map(function (i) { return RES[i]; }); }
  function first(c, vi) { var a = c.cells[vi]; return a && a.length ? RES[a[0]] : null; }
  function haystack(c) {
    if (c._text === undefined) {
      var parts = [c.id, c.prompt || "", (c.tags || []).join(" ")];
      c.cells.forEach(function (ids) { ids.forEach(function (i) { parts.push(RES[i].reason || ""); }); });
      c._text = parts.join("\n").toLowerCase();
    }
    return c._text;
  }
  function cellMatches(c, vi) {
    if (!state.verdict) return true;
    return attempts(c, vi).some(function (r) {
      return state.verdict === "!correct" ? r.verdict !== "correct" : r.verdict === state.verdict;
    });
  }
  function keep(c) {
    var vis = state.variant === "" ? V.map(function (_, i) { return i; }) : [Number(state.variant)];
    if (state.verdict && !vis.some(function (vi) { return cellMatches(c, vi); })) return false;
    if (state.disagree) {
      var seen = {};
      V.forEach(function (_, vi) { var r = first(c, vi); if (r && r.verdict !== "error") seen[r.verdict === "correct"] = 1; });
      if (Object.keys(seen).length < 2) return false;
    }
    if (state.flipped && !FLIPPED[c.id]) return false;
    return !state.text || haystack(c).indexOf(state.text) >= 0;
  }
  function refilter() {
    state.rows = [];
    for (var i = 0; i < CASES.length; i++) if (keep(CASES[i])) state.rows.push(i);
    state.page = 0;
    draw();
  }

  /* ---- the grid ---- */
  function cell(ci, vi) {
    var c = CASES[ci], rs = attempts(c, vi);
    if (!rs.length) return el("td", { class: "cell muted" }, "–");
    var td = el("td", { class: "cell c-" + rs[0].verdict, tabindex: "0", title: label(rs[0].verdict) + (rs[0].reason ? ": " + rs[0].reason : "") },
      shortLabel(rs[0].verdict));
    /* a verdict filter keeps a row when one cell matches; the other cells of the row step back */
    if (state.verdict && !cellMatches(c, vi)) td.classList.add("dim");
    if (rs.length > 1) {
      var ok = rs.filter(function (r) { return r.verdict === "correct"; }).length;
      td.appendChild(el("span", { class: "rep", title: ok + " of " + rs.length + " attempts correct" }, ok + "/" + rs.length));
    }
    if (state.variant !== "" && Number(state.variant) === vi) td.classList.add("hl");
    if (state.sel && state.sel.c === ci && state.sel.v === vi) td.classList.add("sel");
    td.addEventListener("click", function () { select(ci, vi, 0); });
    td.addEventListener("keydown", function (e) { if (e.key === "Enter") select(ci, vi, 0); });
    return td;
  }
  function draw() {
    var body = $("grid").tBodies[0], frag = document.createDocumentFragment();
    var pages = Math.max(1, Math.ceil(state.rows.length / PAGE));
    state.page = Math.min(state.page, pages - 1);
    state.rows.slice(state.page * PAGE, (state.page + 1) * PAGE).forEach(function (ci) {
      var c = CASES[ci], tr = el("tr", null, el("td", { class: "cid" }, el("code", null, c.id)));
      var p = el("td", { class: "prompt", title: c.prompt || "" }, c.prompt || "");
      (c.tags || []).forEach(function (t) { p.appendChild(el("span", { class: "tag" }, t)); });
      p.addEventListener("click", function () { select(ci, state.variant === "" ? 0 : Number(state.variant), 0); });
      tr.appendChild(p);
      V.forEach(function (_, vi) { tr.appendChild(cell(ci, vi)); });
      frag.appendChild(tr);
    });
    body.textContent = "";
    body.appendChild(frag);
    $("page").textContent = "page " + (state.page + 1) + " of " + pages;
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page >= pages - 1;
    $("f-count").textContent = state.rows.length + " of " + CASES.length + " cases";
    Array.prototype.forEach.call(document.querySelectorAll("th.vcol"), function (th) {
      th.classList.toggle("hl", state.variant !== "" && th.getAttribute("data-v") === state.variant);
    });
  }

  /* ---- argument diff ---- */
  function same(a, b) {
    if (typeof a === "number" && typeof b === "number") return a === b;
    return JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));
  }
  function isAnyOf(x) { return x && typeof x === "object" && !Array.isArray(x) && Array.isArray(x.any_of); }
  function accepts(exp, got) { return isAnyOf(exp) ? exp.any_of.some(function (v) { return same(v, got); }) : same(exp, got); }
  function showExp(exp) { return isAnyOf(exp) ? "one of " + exp.any_of.map(show).join(", ") + (exp.optional ? " (optional)" : "") : show(exp); }
  function diffRows(expected, calls) {
    var rows = [], used = {};
    (expected.calls || []).forEach(function (e, i) {
      var j = -1;
      (calls || []).forEach(function (g, k) { if (j < 0 && !used[k] && g.name === e.name) j = k; });
      if (j < 0) (calls || []).forEach(function (g, k) { if (j < 0 && !used[k]) j = k; });
      var g = j >= 0 ? calls[j] : null;
      if (j >= 0) used[j] = 1;
      rows.push({ head: e.name + (g ? "  ←  " + g.name : "  ←  (no call)"), cls: g && g.name === e.name ? "d-ok" : "d-bad" });
      if (!g) return;
      var got = g.arguments;
      if (!got || typeof got !== "object" || Array.isArray(got)) {
        rows.push({ cells: ["(arguments)", e.arguments ? show(e.arguments) : "any", g.raw_arguments || show(got), "not a JSON object"], cls: "d-bad" });
        return;
      }
      if (!e.arguments) { rows.push({ cells: ["(arguments)", "any", show(got), "✓ not checked"], cls: "d-ok" }); return; }
      var keys = Object.keys(e.arguments);
      Object.keys(got).forEach(function (k) { if (keys.indexOf(k) < 0) keys.push(k); });
      keys.forEach(function (k) {
        var inE = Object.prototype.hasOwnProperty.call(e.arguments, k), inG = Object.prototype.hasOwnProperty.call(got, k);
        var ex = e.arguments[k];
        if (inE && inG) rows.push({ cells: [k, showExp(ex), show(got[k]), accepts(ex, got[k]) ? "✓" : "✗ differs"], cls: accepts(ex, got[k]) ? "d-ok" : "d-bad" });
        else if (inE) rows.push({ cells: [k, showExp(ex), "—", isAnyOf(ex) && ex.optional ? "optional, absent" : "missing"], cls: isAnyOf(ex) && ex.optional ? "d-ok" : "d-missing" });
        else rows.push({ cells: [k, "—", show(got[k]), "not expected"], cls: "d-extra" });
      });
    });
    (calls || []).forEach(function (g, k) { if (!used[k]) rows.push({ head: "(not expected)  ←  " + g.name, cls: "d-extra" }); });
    return rows;
  }
  function diffTable(expected, calls) {
    var rows = diffRows(expected, calls);
    if (!rows.length) return null;
    var t = el("table", { class: "diff" }, el("thead", null, el("tr", null, el("th", null, "argument"), el("th", null, "expected"), el("th", null, "got"), el("th", null, ""))));
    var b = el("tbody");
    rows.forEach(function (r) {
      if (r.head) b.appendChild(el("tr", { class: r.cls }, el("th", { colspan: "4" }, r.head)));
      else b.appendChild(el("tr", { class: r.cls }, el("td", null, r.cells[0]), el("td", null, r.cells[1]), el("td", null, r.cells[2]), el("td", null, r.cells[3])));
    });
    t.appendChild(b);
    return t;
  }

  /* ---- the detail panel ---- */
  function tokensOf(key) { var n = DATA.fn_tokens[key]; return n === undefined ? "" : " · " + n + " tokens"; }
  function defs(title, key, open) {
    if (!key || !DATA.functions[key]) return null;
    var d = el("details", open ? { open: "" } : null, el("summary", null, title + tokensOf(key)), el("pre", null, pretty(DATA.functions[key])));
    return d;
  }
  function closeDetail() {
    state.sel = null;
    $("detail").textContent = "";
    $("cases-layout").classList.remove("has-detail");
    try { history.replaceState(null, "", location.pathname + location.search); } catch (e) { /* file:// in some browsers */ }
    draw();
  }
  function select(ci, vi, attempt) {
    state.sel = { c: ci, v: vi };
    var c = CASES[ci], rs = attempts(c, vi), r = rs[attempt] || rs[0];
    var box = $("detail");
    box.textContent = "";
    $("cases-layout").classList.add("has-detail");
    box.appendChild(el("button", { type: "button", class: "close", title: "close the detail panel", "aria-label": "close", onclick: closeDetail }, "×"));
    box.appendChild(el("h3", null, el("code", null, c.id)));
    var tabs = el("div", { class: "vtabs" });
    V.forEach(function (name, j) {
      if (!attempts(c, j).length) return;
      var v0 = first(c, j).verdict;
      tabs.appendChild(el("button", { type: "button", class: j === vi ? "on" : "", title: v0, onclick: function () { select(ci, j, 0); } },
        el("span", { class: "swatch vd-" + v0 }), name));
    });
    box.appendChild(tabs);
    if (rs.length > 1) {
      var reps = el("div", { class: "vtabs" }, el("span", { class: "muted" }, "attempt "));
      rs.forEach(function (x, k) {
        reps.appendChild(el("button", { type: "button", class: x === r ? "on" : "", onclick: function () { select(ci, vi, k); } },
          el("span", { class: "swatch vd-" + x.verdict }), String(k + 1)));
      });
      box.appendChild(reps);
    }
    if (!r) return;
    box.appendChild(el("p", null, el("span", { class: "badge vd-" + r.verdict }, label(r.verdict)), " ", r.reason || ""));
    if (r.error) box.appendChild(el("p", { class: "warn" }, "error: " + r.error));
    var expected = c.expected || { calls: [] };
    var diff = diffTable(expected, r.calls);
    if (diff) { box.appendChild(el("h4", null, "Arguments: expected vs got")); box.appendChild(diff); }
    box.appendChild(el("h4", null, "Expected"));
    box.appendChild(el("pre", null, expected.refuse ? "no call: ask for clarification / refuse" : pretty(expected.calls)));
    box.appendChild(el("h4", null, "Parsed calls"));
    box.appendChild(el("pre", null, r.calls && r.calls.length ? pretty(r.calls.map(function (x) { return { name: x.name, arguments: x.arguments === undefined || x.arguments === null ? x.raw_arguments : x.arguments }; })) : "(no call)"));
    if (r.content) { box.appendChild(el("h4", null, "Assistant text")); box.appendChild(el("pre", null, r.content)); }
    box.appendChild(el("h4", null, "Prompt"));
    (DATA.messages[r.m] || []).forEach(function (m) {
      box.appendChild(el("div", { class: "msg" }, el("div", { class: "role" }, String(m.role || "")), el("pre", null, m.content === null || m.content === undefined ? pretty(m) : pretty(m.content))));
    });
    box.appendChild(el("h4", null, "Function definitions"));
    var sentIsFull = c.full && c.full === "full:" + r.fn;
    box.appendChild(defs((sentIsFull ? "sent (full)" : "sent (" + (r.api || "tools") + ")"), r.fn, false) || el("p", { class: "muted" }, "not recorded in functions.json"));
    if (c.full && !sentIsFull) box.appendChild(defs("full (source of truth; types are checked against it)", c.full, false));
    var meta = [];
    if (r.model) meta.push("model " + r.model);
    if (r.tok && r.tok.prompt !== undefined && r.tok.prompt !== null) meta.push("prompt tokens (counted) " + r.tok.prompt);
    if (r.usage && r.usage.prompt_tokens !== undefined && r.usage.prompt_tokens !== null) meta.push("API usage " + r.usage.prompt_tokens + " in / " + r.usage.completion_tokens + " out");
    if (r.lat !== undefined) meta.push("latency " + r.lat.toFixed(2) + " s");
    if (meta.length) box.appendChild(el("p", { class: "muted" }, meta.join(" · ")));
    if (r.raw !== undefined) box.appendChild(el("details", null, el("summary", null, "Raw response"), el("pre", null, pretty(r.raw))));
    try { history.replaceState(null, "", "#case=" + encodeURIComponent(c.id) + "&variant=" + encodeURIComponent(V[vi])); } catch (e) { /* file:// in some browsers */ }
    draw();
  }

  /* ---- wiring ---- */
  $("filters").addEventListener("submit", function (e) { e.preventDefault(); });
  $("f-verdict").addEventListener("change", function (e) { state.verdict = e.target.value; refilter(); });
  $("f-variant").addEventListener("change", function (e) { state.variant = e.target.value; refilter(); });
  $("f-disagree").addEventListener("change", function (e) { state.disagree = e.target.checked; refilter(); });
  if ($("f-flipped")) $("f-flipped").addEventListener("change", function (e) { state.flipped = e.target.checked; refilter(); });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape" && state.sel) closeDetail(); });
  var timer = null;
  $("f-text").addEventListener("input", function (e) {
    clearTimeout(timer);
    timer = setTimeout(function () { state.text = e.target.value.trim().toLowerCase(); refilter(); }, 120);
  });
  $("prev").addEventListener("click", function () { state.page--; draw(); });
  $("next").addEventListener("click", function () { state.page++; draw(); });
  refilter();
  /* report.html#case=ID&variant=NAME opens a case: on load, and from the links in "What changed" */
  function openHash() {
    var hash = new URLSearchParams(location.hash.slice(1));
    if (hash.get("case") === null) return;
    var ci = CASES.findIndex(function (c) { return c.id === hash.get("case"); });
    var vi = Math.max(0, V.indexOf(hash.get("variant")));
    if (ci < 0) return;
    if (state.rows.indexOf(ci) < 0) {  /* filtered out: show every case again */
      state.verdict = ""; state.variant = ""; state.disagree = false; state.flipped = false; state.text = "";
      ["f-verdict", "f-variant", "f-text"].forEach(function (id) { $(id).value = ""; });
      ["f-disagree", "f-flipped"].forEach(function (id) { if ($(id)) $(id).checked = false; });
      refilter();
    }
    state.page = Math.floor(state.rows.indexOf(ci) / PAGE);
    select(ci, vi, 0);
    $("cases").scrollIntoView();
  }
  window.addEventListener("hashchange", openHash);
  document.addEventListener("click", function (e) {  /* the same link again: no hashchange, open it anyway */
    var a = e.target.closest ? e.target.closest('a[href^="#case="]') : null;
    if (a && a.getAttribute("href") === location.hash) { e.preventDefault(); openHash(); }
  });
  openHash();
  document.documentElement.setAttribute("data-ready", "1");
  document.documentElement.setAttribute("data-init-ms", String(Math.round(performance.now() - T0)));
})();
