// The verifier page: read the permit token from the URL fragment (never sent to a server),
// ask the API, show the verdict. Everything is written with textContent: nothing from a token
// or a verdict is ever parsed as HTML.
"use strict";
(function () {
  var texts = JSON.parse(document.getElementById("texts").textContent);
  var lang = "vi";
  try {
    if (window.localStorage.getItem("permit-lang") === "en") { lang = "en"; }
  } catch (e) { /* storage disabled: Vietnamese by default */ }
  var current = null;

  function $(id) { return document.getElementById(id); }
  function t(key) { return texts.ui[key][lang]; }
  function locale() { return lang === "vi" ? "vi-VN" : "en-GB"; }

  function formatDay(iso, exclusiveEnd) {
    var when = new Date(iso);
    if (exclusiveEnd) { when = new Date(when.getTime() - 1000); }
    return new Intl.DateTimeFormat(locale(), {
      timeZone: "Asia/Ho_Chi_Minh", day: "numeric", month: "long", year: "numeric"
    }).format(when);
  }

  function formatMoment(iso) {
    return new Intl.DateTimeFormat(locale(), {
      timeZone: "Asia/Ho_Chi_Minh", dateStyle: "medium", timeStyle: "medium"
    }).format(new Date(iso));
  }

  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

  function addRow(list, key, value) {
    var term = document.createElement("dt");
    term.textContent = t(key);
    var detail = document.createElement("dd");
    detail.dataset.field = key;
    if (Array.isArray(value)) {
      var items = document.createElement("ul");
      value.forEach(function (text) {
        var item = document.createElement("li");
        item.textContent = text;
        items.appendChild(item);
      });
      detail.appendChild(items);
    } else {
      detail.textContent = value;
    }
    list.appendChild(term);
    list.appendChild(detail);
  }

  // A basis's state as the page marks it: by a symbol and a word as well as a colour.
  var BASIS_KIND = { valid: "ok", amended: "ok", revoked: "bad", suspended: "bad", invalid: "bad", status_unknown: "unknown" };
  var MARK = { ok: "✔", bad: "✘", unknown: "?" };

  function span(className, text) {
    var node = document.createElement("span");
    node.className = className;
    node.textContent = text;
    return node;
  }

  // "Based on": each permit this one rests on, with its type, id (printed on it), issuer and its own state.
  function addBases(list, bases) {
    var term = document.createElement("dt");
    term.textContent = t("based_on");
    var detail = document.createElement("dd");
    detail.dataset.field = "basis";
    var items = document.createElement("ul");
    items.className = "bases";
    bases.forEach(function (basis) {
      var kind = BASIS_KIND[basis.state] || "bad";
      var item = document.createElement("li");
      item.className = "basis " + kind;
      item.dataset.state = basis.state;
      item.dataset.id = basis.id;
      item.appendChild(span("basis-type", basis.type.name ? basis.type.name[lang] : basis.type.code));
      item.appendChild(span("basis-id", t("permit_id") + " " + basis.id));
      item.appendChild(span("basis-issuer", basis.issuer.name ? basis.issuer.name[lang] : basis.issuer.id));
      var state = span("basis-state", "");
      var mark = span("basis-mark", MARK[kind]);
      mark.setAttribute("aria-hidden", "true");
      state.appendChild(mark);
      state.appendChild(document.createTextNode(" "));
      state.appendChild(span("basis-state-text", texts.basis_states[basis.state] ? texts.basis_states[basis.state][lang] : basis.state));
      item.appendChild(state);
      items.appendChild(item);
    });
    detail.appendChild(items);
    list.appendChild(term);
    list.appendChild(detail);
  }

  function showPermit(verdict) {
    var list = $("permit");
    clear(list);
    var permit = verdict.permit;
    $("no-permit").classList.toggle("hidden", Boolean(permit));
    list.classList.toggle("hidden", !permit);
    if (!permit) { return; }
    var type = permit.type.name ? permit.type.name[lang] : permit.type.code;
    addRow(list, "type", type);
    addRow(list, "number", permit.number + (permit.version > 1 ? " (" + t("version") + " " + permit.version + ")" : ""));
    addRow(list, "holder", permit.holder.name);
    addRow(list, "holder_id", permit.holder.id);
    if (permit.holder.address) { addRow(list, "address", permit.holder.address); }
    if (permit.activities.length) { addRow(list, "activities", permit.activities); }
    if (permit.conditions.length) { addRow(list, "conditions", permit.conditions); }
    addRow(list, "validity", formatDay(permit.valid_from, false) + " – " + formatDay(permit.valid_until, true));
    if (verdict.issuer) { addRow(list, "issuer", verdict.issuer.name[lang]); }
    if (verdict.basis && verdict.basis.length) { addBases(list, verdict.basis); }
  }

  function render(result) {
    if (result !== current && !result.waiting) {
      // Each answer once (not each redraw in another language), after it is shown: scan.js counts it.
      window.setTimeout(function () { document.dispatchEvent(new CustomEvent("permit-checked", { detail: result })); }, 0);
    }
    current = result;
    var section = $("result");
    var reasons = $("reasons");
    clear(reasons);
    if (result.waiting || result.problem) {
      section.className = "result " + (result.waiting ? "waiting" : "unknown");
      section.dataset.status = result.waiting ? "checking" : "error";
      $("mark").textContent = result.waiting ? "…" : "?";
      $("state-text").textContent = t(result.waiting ? "checking" : result.problem);
      clear($("permit"));
      $("permit").classList.add("hidden");
      $("no-permit").classList.add("hidden");
      $("checked").textContent = "";
      return;
    }
    var verdict = result.verdict;
    var kind = verdict.status === "valid" ? "valid" : (verdict.status === "status_unknown" ? "unknown" : "invalid");
    section.className = "result " + kind;
    section.dataset.status = verdict.status;
    $("mark").textContent = kind === "valid" ? "✔" : (kind === "unknown" ? "?" : "✘");
    $("state-text").textContent = texts.status[verdict.status][lang];
    verdict.reasons.forEach(function (code) {
      var item = document.createElement("li");
      item.textContent = texts.reasons[code] ? texts.reasons[code][lang] : code;
      item.dataset.reason = code;
      reasons.appendChild(item);
    });
    showPermit(verdict);
    var checked = t("checked_at") + " " + formatMoment(verdict.checked_at);
    if (verdict.registry_version !== null) { checked += " · " + t("registry_version") + " " + verdict.registry_version; }
    $("checked").textContent = checked;
  }

  function check(token) {
    render({ waiting: true });
    window.fetch("/api/v1/verify", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: token }),
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer"
    }).then(function (response) {
      if (response.status === 429 || response.status >= 500) {
        // The service could not answer now (a node not ready, a load balancer with no node):
        // the code may be fine, so do not say it could not be read.
        render({ problem: "busy" });
        return;
      }
      return response.json().then(function (body) {
        render(response.ok ? { verdict: body } : { problem: "bad_input" });
      });
    }).catch(function () {
      render({ problem: "network" });
    });
  }

  function tokenFrom(text) {
    var at = text.indexOf("#");
    return at >= 0 ? text.slice(at + 1) : text;
  }

  function applyLanguage() {
    document.documentElement.lang = lang;
    document.title = t("title");
    Array.prototype.forEach.call(document.querySelectorAll("[data-text]"), function (node) {
      node.textContent = t(node.dataset.text);
    });
    $("lang").textContent = t("switch");
    if (current) { render(current); }
  }

  function fromFragment() {
    var token = window.location.hash.slice(1);
    if (token) { check(token); }
  }

  $("lang").addEventListener("click", function () {
    lang = lang === "vi" ? "en" : "vi";
    try { window.localStorage.setItem("permit-lang", lang); } catch (e) { /* not remembered */ }
    applyLanguage();
  });
  function checkText(text) {
    var token = tokenFrom(text.trim());
    if (token) { check(token); }
  }

  $("paste").addEventListener("submit", function (event) {
    event.preventDefault();
    checkText($("paste-input").value);
  });
  // A code the camera read (scan.js) takes the path a pasted one takes.
  document.addEventListener("permit-scan", function (event) { checkText(event.detail); });
  window.addEventListener("hashchange", fromFragment);
  applyLanguage();
  fromFragment();
}());
