// The verifier page: read the permit token from the URL fragment (never sent to a server), get a
// verdict for it, show the verdict and what to do next. Everything is written with textContent:
// nothing from a token or a verdict is ever parsed as HTML.
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
  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (whole, name) { return values[name] !== undefined ? values[name] : whole; });
  }

  // --- where a verdict comes from ----------------------------------------------------------------

  // The verifier's API. Resolves (never rejects) to {verdict: …} or {problem: key of a sentence}.
  function verdictFromApi(token) {
    return window.fetch("/api/v1/verify", {
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
        return { problem: "busy" };
      }
      return response.json().then(function (body) {
        return response.ok ? { verdict: body } : { problem: "bad_input" };
      });
    }).catch(function () {
      return { problem: "network" };
    });
  }

  // The check in this browser (local.js, a module that runs before this script): the token never
  // leaves the phone. A browser without modules asks the API, and so does local.js where this
  // browser lacks what it needs; either keeps verdictFromApi's promise, with `source` ("device"
  // or "server") and, from the device, `dataAt` (when its documents were fetched).
  function verdictFor(token) {
    if (window.permitLocal) { return window.permitLocal.verdictFor(token, verdictFromApi); }
    return verdictFromApi(token).then(function (result) { result.source = "server"; return result; });
  }

  // Small print under a verdict: where it was checked, and how recent the documents were.
  function showSource(result) {
    var text = "";
    if (result.verdict && result.source === "server") { text = t("checked_by_server"); }
    if (result.verdict && result.source === "device") {
      var p = cityParts(result.dataAt, false);
      text = fill(t("checked_here"), { time: p.day + "/" + p.month + "/" + p.year + " " + p.hour + ":" + p.minute });
    }
    $("source").textContent = text;
    $("source").dataset.source = result.verdict ? result.source : "";
  }

  // --- what was typed or pasted ------------------------------------------------------------------

  // Mail and chat programs break a long link or number across lines, with spaces or invisible
  // break hints (soft hyphen, zero-width space, word joiner, BOM); none of them is ever part of one.
  var BREAKS = /[\s\u00ad\u200b-\u200d\u2060\ufeff]+/g;
  // A link with the code after "#": with its scheme, or as a host with a dot and a path.
  var LINK = /^(?:https?:\/\/[^#]+|[^#/]+\.[^#/]+\/[^#]*)#(.+)$/i;
  // The code alone: the QR's digits, or the token as three base64url parts. A signature alone is
  // 154 digits or 86 characters, so anything much shorter (the permit ID, its number, a
  // registration code, a date) is something else printed on the paper.
  var MIN_CODE = 100;
  var DIGITS = /^[0-9]+$/;
  var COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$/;

  // The token in what a person typed or pasted, or null when it is not a QR code's link or code.
  function tokenFrom(text) {
    var joined = text.replace(BREAKS, "");
    var link = LINK.exec(joined);
    if (link) { return link[1]; }
    if (joined.length >= MIN_CODE && (DIGITS.test(joined) || COMPACT.test(joined))) { return joined; }
    return null;
  }

  // --- dates, as the paper writes them -----------------------------------------------------------

  // Day, month and year (and the time) in Ho Chi Minh City, whatever the phone's own zone.
  var CITY_TIME = new Intl.DateTimeFormat("en-GB", {
    timeZone: "Asia/Ho_Chi_Minh", day: "2-digit", month: "2-digit", year: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23"
  });

  function cityParts(iso, exclusiveEnd) {
    var when = new Date(iso);
    if (exclusiveEnd) { when = new Date(when.getTime() - 1000); }
    var parts = {};
    CITY_TIME.formatToParts(when).forEach(function (part) { parts[part.type] = part.value; });
    return parts;
  }

  // dd/mm/yyyy; an exclusive end (valid_until) is shown as the last day it covers.
  function formatDay(iso, exclusiveEnd) {
    var p = cityParts(iso, exclusiveEnd);
    return p.day + "/" + p.month + "/" + p.year;
  }

  function formatMoment(iso) {
    var p = cityParts(iso, false);
    return p.day + "/" + p.month + "/" + p.year + " " + p.hour + ":" + p.minute + ":" + p.second;
  }

  // --- showing a verdict -------------------------------------------------------------------------

  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

  function span(className, text) {
    var node = document.createElement("span");
    node.className = className;
    node.textContent = text;
    return node;
  }

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

  function nameOf(agency) { return agency.name ? agency.name[lang] : agency.id; }

  // A basis's state as the page marks it: by a symbol and a word as well as a colour.
  var BASIS_KIND = { valid: "ok", amended: "ok", revoked: "bad", suspended: "bad", invalid: "bad", status_unknown: "unknown" };
  var MARK = { ok: "✔", bad: "✘", unknown: "?" };

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
      item.appendChild(span("basis-issuer", nameOf(basis.issuer)));
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
    addRow(list, "validity", fill(t("validity_value"), {
      start: formatDay(permit.valid_from, false), end: formatDay(permit.valid_until, true)
    }));
    if (verdict.issuer) { addRow(list, "issuer", nameOf(verdict.issuer)); }
    if (verdict.basis && verdict.basis.length) { addBases(list, verdict.basis); }
  }

  // --- what to do next ---------------------------------------------------------------------------

  // The departments to call about a permit that is not in force: its own issuer when the permit
  // itself is revoked or suspended, else the issuers of the permits it rests on that are.
  function departmentsToCall(verdict, own, basisState) {
    if (verdict.reasons.indexOf(own) >= 0) { return verdict.issuer ? [verdict.issuer] : []; }
    var seen = {};
    return (verdict.basis || []).filter(function (basis) {
      if (basis.state !== basisState || seen[basis.issuer.id]) { return false; }
      seen[basis.issuer.id] = true;
      return true;
    }).map(function (basis) { return basis.issuer; });
  }

  // {sentence key, values, departments} for a verdict.
  function nextStep(verdict) {
    var permit = verdict.permit;
    switch (verdict.status) {
      case "valid": return { key: "next_valid" };
      case "revoked":
      case "suspended":
        var own = verdict.reasons.indexOf(verdict.status) >= 0;
        return {
          key: own ? "next_" + verdict.status : "next_basis_" + verdict.status,
          departments: departmentsToCall(verdict, verdict.status, verdict.status)
        };
      case "superseded": return { key: "next_superseded" };
      case "expired": return { key: "next_expired", values: { date: permit ? formatDay(permit.valid_until, true) : "" } };
      case "not_yet_valid": return { key: "next_not_yet_valid", values: { date: permit ? formatDay(permit.valid_from, false) : "" } };
      case "status_unknown": return { key: "next_status_unknown" };
      default: return { key: "next_invalid" };
    }
  }

  // A link only to a phone number or an https address (a department's contact, checked in the
  // registry too): never javascript: or data:, whatever a document says; anything else is text.
  var SAFE_LINK = /^(?:tel:\+?[0-9]{3,32}|https:\/\/[^\s"'<>\\]+)$/;
  function link(href, text) {
    if (!SAFE_LINK.test(href)) {
      var plain = document.createElement("span");
      plain.textContent = text;
      return plain;
    }
    var anchor = document.createElement("a");
    anchor.href = href;
    anchor.textContent = text;
    return anchor;
  }

  // One department to call: its name, its phone (a tap calls it) and its site, as the registry gives them.
  function contactItem(agency) {
    var item = document.createElement("li");
    item.className = "contact";
    item.dataset.agency = agency.id;
    item.appendChild(span("contact-name", nameOf(agency)));
    var contact = agency.contact || {};
    if (contact.phone) {
      var phone = span("contact-phone", t("phone") + ": ");
      phone.appendChild(link("tel:" + contact.phone.replace(/[^0-9+]/g, ""), contact.phone));
      item.appendChild(phone);
    }
    // The registry allows only https addresses; a verdict from elsewhere is held to that too.
    if (contact.web && /^https:\/\//.test(contact.web)) {
      var web = span("contact-web", t("web") + ": ");
      var site = link(contact.web, contact.web);
      site.rel = "noopener noreferrer";
      site.target = "_blank";
      web.appendChild(site);
      item.appendChild(web);
    }
    return item;
  }

  function showNextStep(verdict) {
    var step = nextStep(verdict);
    $("next").classList.remove("hidden");
    $("next-step").textContent = fill(t(step.key), step.values || {});
    var contacts = $("contacts");
    clear(contacts);
    (step.departments || []).forEach(function (agency) { contacts.appendChild(contactItem(agency)); });
  }

  // --- the result area ---------------------------------------------------------------------------

  function hideVerdictParts() {
    clear($("permit"));
    $("permit").classList.add("hidden");
    $("no-permit").classList.add("hidden");
    $("next").classList.add("hidden");
    clear($("contacts"));
    $("checked").textContent = "";
  }

  // result: {waiting}, {problem: key} (nothing could be checked), {notCode: true} (nothing was
  // asked: not a QR code's link or code), or {verdict}.
  function render(result) {
    if (result !== current && !result.waiting) {
      // Each answer once (not each redraw in another language), after it is shown: scan.js counts it.
      window.setTimeout(function () { document.dispatchEvent(new CustomEvent("permit-checked", { detail: result })); }, 0);
    }
    current = result;
    showSource(result);
    var section = $("result");
    clear($("reasons"));
    if (result.waiting || result.problem || result.notCode) {
      var kind = result.waiting ? "waiting" : (result.problem ? "unknown" : "note");
      section.className = "result message " + kind;
      section.dataset.status = result.waiting ? "checking" : (result.problem ? "error" : "not_a_code");
      $("mark").textContent = result.waiting ? "…" : (result.problem ? "?" : "");
      $("state-text").textContent = t(result.waiting ? "checking" : (result.problem || "not_a_code"));
      hideVerdictParts();
      return;
    }
    var verdict = result.verdict;
    var look = verdict.status === "valid" ? "valid" : (verdict.status === "status_unknown" ? "unknown" : "invalid");
    section.className = "result " + look;
    section.dataset.status = verdict.status;
    $("mark").textContent = look === "valid" ? "✔" : (look === "unknown" ? "?" : "✘");
    $("state-text").textContent = texts.status[verdict.status][lang];
    verdict.reasons.forEach(function (code) {
      var item = document.createElement("li");
      item.textContent = texts.reasons[code] ? texts.reasons[code][lang] : code;
      item.dataset.reason = code;
      $("reasons").appendChild(item);
    });
    showNextStep(verdict);
    showPermit(verdict);
    var checked = t("checked_at") + " " + formatMoment(verdict.checked_at);
    if (verdict.registry_version !== null) { checked += " · " + t("registry_version") + " " + verdict.registry_version; }
    $("checked").textContent = checked;
  }

  function check(token) {
    render({ waiting: true });
    verdictFor(token).then(render);
  }

  function applyLanguage() {
    document.documentElement.lang = lang;
    document.title = t("title");
    Array.prototype.forEach.call(document.querySelectorAll("[data-text]"), function (node) {
      node.textContent = t(node.dataset.text);
    });
    // The button names the other language in that language.
    $("lang").textContent = t("switch");
    $("lang").lang = lang === "vi" ? "en" : "vi";
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
  // What a pasted or scanned text leads to: its check, or the plain "not the QR code" message.
  function checkText(text) {
    if (!text.replace(BREAKS, "")) { return; }
    var token = tokenFrom(text);
    if (token) { check(token); } else { render({ notCode: true }); }
  }

  $("paste").addEventListener("submit", function (event) {
    event.preventDefault();
    checkText($("paste-input").value);
  });
  // A code the camera read (scan.js) takes the path a pasted one takes.
  document.addEventListener("permit-scan", function (event) { checkText(event.detail); });
  window.addEventListener("hashchange", fromFragment);
  $("lang").hidden = false;
  $("checker").hidden = false;
  applyLanguage();
  fromFragment();
}());
