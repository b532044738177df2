/* evalkit report: the cases grid and the detail panel, drawn from the JSON in #evalkit-data.
   Every piece of case or model text reaches the page through textContent, never innerHTML. */
(function () {
  "use strict";
  var T0 = performance.now();
  var DATA = JSON.parse(document.getElementById("evalkit-data").textContent);
  /* up to ALL_ROWS matching cases are all drawn; past that only the rows in view (plus a margin) */
  var ALL_ROWS = 200, OVERSCAN = 10;
  var V = DATA.variants, VN = DATA.verdict_names, REASONS = DATA.reasons, R = DATA.results;
  var state = { verdict: "", variant: "", disagree: false, flipped: false, text: "", rows: [], sel: null, rowH: 0 };
  var FLIPPED = {};
  (DATA.flipped || []).forEach(function (id) { FLIPPED[id] = 1; });
  /* cases as objects; cells[v] lists the case's result indexes for variant v, attempts in order */
  var CASES = DATA.cases.id.map(function (id, i) {
    return { id: id, prompt: DATA.cases.prompt[i], tags: DATA.cases.tags[i] || [], call: DATA.cases.call[i],
             cells: V.map(function () { return []; }) };
  });
  for (var i = 0; i < R.v.length; i++) CASES[R["case"][i]].cells[R.v[i]].push(i);
  function verdictOf(i) { return VN[R.verdict[i]]; }
  function reasonOf(i) { var k = R.reason[i]; return k < 0 ? "" : REASONS[k]; }
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
  function attempts(c, vi) { return c.cells[vi] || []; }
  function first(c, vi) { var a = c.cells[vi]; return a && a.length ? a[0] : -1; }
  function haystack(c) {
    if (c._text === undefined) {
      var parts = [c.id, c.prompt || "", (c.tags || []).join(" ")];
      c.cells.forEach(function (ids) { ids.forEach(function (i) { parts.push(reasonOf(i)); }); });
      c._text = parts.join("\n").toLowerCase();
    }
    return c._text;
  }
  function cellMatches(c, vi) {
    if (!state.verdict) return true;
    return attempts(c, vi).some(function (i) {
      var v = verdictOf(i);
      return state.verdict === "!correct" ? v !== "correct" : v === state.verdict;
    });
  }
  function keep(c) {
    var vis = state.variant === "" ? V.map(function (_, i) { return i; }) : [Number(state.variant)];
    if (state.verdict && !vis.some(function (vi) { return cellMatches(c, vi); })) return false;
    if (state.disagree) {
      var seen = {};
      V.forEach(function (_, vi) { var i = first(c, vi); if (i >= 0 && verdictOf(i) !== "error") seen[verdictOf(i) === "correct"] = 1; });
      if (Object.keys(seen).length < 2) return false;
    }
    if (state.flipped && !FLIPPED[c.id]) return false;
    return !state.text || haystack(c).indexOf(state.text) >= 0;
  }
  function refilter() {
    state.rows = [];
    for (var i = 0; i < CASES.length; i++) if (keep(CASES[i])) state.rows.push(i);
    $("grid-scroll").scrollTop = 0;
    draw();
  }

  /* ---- the grid ---- */
  function cell(ci, vi) {
    var c = CASES[ci], rs = attempts(c, vi);
    if (!rs.length) return el("td", { class: "cell muted" }, "–");
    var v0 = verdictOf(rs[0]), why = reasonOf(rs[0]);
    var td = el("td", { class: "cell c-" + v0, tabindex: "0", title: label(v0) + (why ? ": " + why : "") }, shortLabel(v0));
    /* a verdict filter keeps a row when one cell matches; the other cells of the row step back */
    if (state.verdict && !cellMatches(c, vi)) td.classList.add("dim");
    if (rs.length > 1) {
      var ok = rs.filter(function (i) { return verdictOf(i) === "correct"; }).length;
      td.appendChild(el("span", { class: "rep", title: ok + " of " + rs.length + " attempts correct" }, ok + "/" + rs.length));
    }
    if (state.variant !== "" && Number(state.variant) === vi) td.classList.add("hl");
    if (state.sel && state.sel.c === ci && state.sel.v === vi) td.classList.add("sel");
    return td;
  }
  function row(ci) {
    var c = CASES[ci], tr = el("tr", { "data-case": String(ci) }, el("td", { class: "cid" }, el("code", null, c.id)));
    var p = el("td", { class: "prompt", title: c.prompt || "" }, c.prompt || "");
    c.tags.forEach(function (t) { p.appendChild(el("span", { class: "tag" }, t)); });
    tr.appendChild(p);
    V.forEach(function (_, vi) { tr.appendChild(cell(ci, vi)); });
    return tr;
  }
  /* the window of rows to draw: all of them for a short list, else those in view */
  function windowOf(n) {
    if (n <= ALL_ROWS) return [0, n];
    var box = $("grid-scroll"), head = $("grid").tHead.offsetHeight, h = state.rowH || 30;
    var top = Math.max(0, box.scrollTop - head);
    var start = Math.max(0, Math.floor(top / h) - OVERSCAN);
    return [start, Math.min(n, Math.ceil((top + box.clientHeight) / h) + OVERSCAN)];
  }
  function draw() {
    var body = $("grid").tBodies[0], frag = document.createDocumentFragment(), n = state.rows.length;
    var span = windowOf(n), h = state.rowH || 30;
    for (var k = span[0]; k < span[1]; k++) frag.appendChild(row(state.rows[k]));
    body.textContent = "";
    body.appendChild(frag);
    $("grid-pad-top").style.height = (span[0] * h) + "px";
    $("grid-pad-bottom").style.height = ((n - span[1]) * h) + "px";
    if (!state.rowH && body.rows.length) {  /* rows are one line each: measure once, redraw to scale */
      state.rowH = body.rows[0].getBoundingClientRect().height || 30;
      if (n > ALL_ROWS) return draw();
    }
    $("f-count").textContent = n + " of " + CASES.length + " cases";
    Array.prototype.forEach.call(document.querySelectorAll("th.vcol"), function (th) {
      th.classList.toggle("hl", state.variant !== "" && th.getAttribute("data-v") === state.variant);
    });
  }
  function scrollToRow(k) {
    var box = $("grid-scroll"), h = state.rowH || 30, y = $("grid").tHead.offsetHeight + k * h;
    if (y < box.scrollTop + h || y > box.scrollTop + box.clientHeight - 2 * h) box.scrollTop = Math.max(0, y - box.clientHeight / 3);
  }
  var pending = false;
  $("grid-scroll").addEventListener("scroll", function () {
    if (pending || state.rows.length <= ALL_ROWS) return;
    pending = true;
    // a timer, not requestAnimationFrame: a frame callback may never run in a hidden or headless
    // page, and a lost one would leave `pending` set and the grid frozen at its first rows
    setTimeout(function () { pending = false; draw(); }, 16);
  });
  /* one listener for every cell and prompt, so that redrawn rows need none of their own */
  function fromEvent(e) {
    var td = e.target.closest ? e.target.closest("td") : null, tr = td && td.parentNode;
    if (!tr || !tr.hasAttribute("data-case")) return null;
    var ci = Number(tr.getAttribute("data-case"));
    if (td.classList.contains("cell")) return td.classList.contains("muted") ? null : [ci, td.cellIndex - 2];
    if (td.classList.contains("prompt")) return [ci, state.variant === "" ? 0 : Number(state.variant)];
    return null;
  }
  $("grid").tBodies[0].addEventListener("click", function (e) { var at = fromEvent(e); if (at) select(at[0], at[1], 0); });
  $("grid").tBodies[0].addEventListener("keydown", function (e) {
    if (e.key !== "Enter") return;
    var at = fromEvent(e); if (at) select(at[0], at[1], 0);
  });

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
  /* the details travel zlib-compressed in base64 (#evalkit-detail); unpacked on first use */
  var DETAIL = null;
  function details() {
    if (DETAIL) return DETAIL;
    if (typeof DecompressionStream === "undefined") {
      DETAIL = Promise.resolve(null);
      return DETAIL;
    }
    var text = $("evalkit-detail").textContent.trim(), bin = atob(text), bytes = new Uint8Array(bin.length);
    for (var k = 0; k < bin.length; k++) bytes[k] = bin.charCodeAt(k);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    DETAIL = new Response(stream).text().then(JSON.parse);
    return DETAIL;
  }
  function tokensOf(D, key) { var n = D.fn_tokens[key]; return n === undefined ? "" : " · " + n + " tokens"; }
  function defs(D, title, key) {
    if (!key || !D.functions[key]) return null;
    return el("details", null, el("summary", null, title + tokensOf(D, key)), el("pre", null, pretty(D.functions[key])));
  }
  function closeDetail() {
    state.sel = null;
    $("detail").textContent = "";
    $("cases-layout").classList.remove("has-detail");
    try { history.replaceState(null, "", location.pathname + location.search); } catch (e) { /* file:// in some browsers */ }
    draw();
  }
  function select(ci, vi, attempt) {
    state.sel = { c: ci, v: vi, a: attempt };
    var sel = state.sel, c = CASES[ci], rs = attempts(c, vi), i = rs[attempt] !== undefined ? rs[attempt] : rs[0];
    var box = $("detail");
    box.textContent = "";
    $("cases-layout").classList.add("has-detail");
    box.appendChild(el("button", { type: "button", class: "close", title: "close the detail panel", "aria-label": "close", onclick: closeDetail }, "×"));
    box.appendChild(el("h3", null, el("code", null, c.id)));
    var tabs = el("div", { class: "vtabs" });
    V.forEach(function (name, j) {
      if (!attempts(c, j).length) return;
      var v0 = verdictOf(first(c, j));
      tabs.appendChild(el("button", { type: "button", class: j === vi ? "on" : "", title: v0, onclick: function () { select(ci, j, 0); } },
        el("span", { class: "swatch vd-" + v0 }), name));
    });
    box.appendChild(tabs);
    if (rs.length > 1) {
      var reps = el("div", { class: "vtabs" }, el("span", { class: "muted" }, "attempt "));
      rs.forEach(function (x, k) {
        reps.appendChild(el("button", { type: "button", class: x === i ? "on" : "", onclick: function () { select(ci, vi, k); } },
          el("span", { class: "swatch vd-" + verdictOf(x) }), String(k + 1)));
      });
      box.appendChild(reps);
    }
    try { history.replaceState(null, "", "#case=" + encodeURIComponent(c.id) + "&variant=" + encodeURIComponent(V[vi])); } catch (e) { /* file:// in some browsers */ }
    draw();
    if (i === undefined) return;
    box.appendChild(el("p", null, el("span", { class: "badge vd-" + verdictOf(i) }, label(verdictOf(i))), " ", reasonOf(i)));
    var rest = el("div", { class: "more" }, el("p", { class: "muted" }, "loading the details…"));
    box.appendChild(rest);
    details().then(function (D) {
      if (state.sel !== sel) return;  /* another cell was opened meanwhile */
      rest.textContent = "";
      if (!D) { rest.appendChild(el("p", { class: "warn" }, "This browser cannot unpack the case details (no DecompressionStream); open the report in a current browser.")); return; }
      fill(rest, D, ci, i);
    }, function (e) {
      rest.textContent = "";
      rest.appendChild(el("p", { class: "warn" }, "The case details could not be read: " + e));
    });
  }
  function fill(box, D, ci, i) {
    var X = D.results, calls = X.calls[i], fn = X.fn[i], api = X.api[i], full = D.cases.full[ci];
    if (X.error[i]) box.appendChild(el("p", { class: "warn" }, "error: " + X.error[i]));
    var expected = D.cases.expected[ci] || { calls: [] };
    var diff = diffTable(expected, calls);
    if (diff) { box.appendChild(el("h4", null, "Arguments: expected vs got")); box.appendChild(diff); }
    box.appendChild(el("h4", null, "Expected"));
    box.appendChild(el("pre", null, expected.refuse ? "no call: ask for clarification / refuse" : pretty(expected.calls)));
    box.appendChild(el("h4", null, "Parsed calls"));
    box.appendChild(el("pre", null, calls && calls.length ? pretty(calls.map(function (x) { return { name: x.name, arguments: x.arguments === undefined || x.arguments === null ? x.raw_arguments : x.arguments }; })) : "(no call)"));
    if (X.content[i]) { box.appendChild(el("h4", null, "Assistant text")); box.appendChild(el("pre", null, X.content[i])); }
    box.appendChild(el("h4", null, "Prompt"));
    (D.messages[X.m[i]] || []).forEach(function (m) {
      box.appendChild(el("div", { class: "msg" }, el("div", { class: "role" }, String(m.role || "")), el("pre", null, m.content === null || m.content === undefined ? pretty(m) : pretty(m.content))));
    });
    box.appendChild(el("h4", null, "Function definitions"));
    var sentIsFull = full && full === "full:" + fn;
    box.appendChild(defs(D, (sentIsFull ? "sent (full)" : "sent (" + (api || "tools") + ")"), fn) || el("p", { class: "muted" }, "not recorded in functions.json"));
    if (full && !sentIsFull) box.appendChild(defs(D, "full (source of truth; types are checked against it)", full));
    var meta = [], tok = X.tok[i], usage = X.usage[i], lat = X.lat[i];
    if (X.model[i]) meta.push("model " + X.model[i]);
    if (tok && tok.prompt !== undefined && tok.prompt !== null) meta.push("prompt tokens (counted) " + tok.prompt);
    if (usage && usage.prompt_tokens !== undefined && usage.prompt_tokens !== null) meta.push("API usage " + usage.prompt_tokens + " in / " + usage.completion_tokens + " out");
    if (typeof lat === "number") meta.push("latency " + lat.toFixed(2) + " s");
    if (meta.length) box.appendChild(el("p", { class: "muted" }, meta.join(" · ")));
    if (D.raw[i] !== null && D.raw[i] !== undefined) box.appendChild(el("details", null, el("summary", null, "Raw response"), el("pre", null, pretty(D.raw[i]))));
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
    draw();
    scrollToRow(state.rows.indexOf(ci));
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
