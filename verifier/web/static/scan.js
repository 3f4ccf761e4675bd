// Scanning inside the page, for an inspector checking many permits in a row: the camera reads
// each QR code, hands it to the page's own check (verify.js, the path a pasted link takes), and a
// tally of what was checked is kept in this phone's localStorage, never sent anywhere.
//
// Decoding: the browser's BarcodeDetector where it reads QR codes; elsewhere the vendored jsQR
// (vendor/jsqr/, Apache-2.0), loaded only when the inspector presses Scan: it weighs 257 KB, more
// than everything else on the page, and a citizen who opened the page from a QR code never needs it.
"use strict";
(function () {
  var DECODER = new URL("vendor/jsqr/jsQR.js", document.currentScript.src).href;
  var STORE = "permit-scan-tally";
  var RECENT = 5;
  // A code that stays in view is checked once; back in view after this long, it is checked again.
  var SAME_CODE_MS = 3000;
  var FRAME_MS = 150;
  var WIDEST = 640;  // frames scaled down to this before decoding: enough for a QR filling part of the view
  var ANSWER_MS = 20000;  // a check that never answers must not stop the scanner for good

  var texts = JSON.parse(document.getElementById("texts").textContent);
  function $(id) { return document.getElementById(id); }
  function lang() { return document.documentElement.lang === "en" ? "en" : "vi"; }
  function t(key) { return texts.ui[key][lang()]; }

  var button = $("scan-button");
  var video = $("scan-video");
  var message = $("scan-message");
  var stream = null;
  var detect = null;
  var timer = null;
  var waiting = false;
  var waitTimer = null;
  var last = { text: null, seen: 0 };
  var messageKey = null;

  function say(key) {
    messageKey = key;
    message.textContent = key ? t(key) : "";
    message.classList.toggle("hidden", !key);
  }

  // --- the tally: counts and the last few checks, on this phone only -----------------------------

  function emptyTally() { return { checked: 0, valid: 0, invalid: 0, recent: [] }; }

  function readTally() {
    try {
      var stored = JSON.parse(window.localStorage.getItem(STORE));
      if (stored && typeof stored.checked === "number" && Array.isArray(stored.recent)) { return stored; }
    } catch (e) { /* storage disabled or garbled: start again */ }
    return emptyTally();
  }

  function writeTally(tally) {
    try { window.localStorage.setItem(STORE, JSON.stringify(tally)); } catch (e) { /* kept on screen only */ }
  }

  var tally = readTally();

  function formatTime(iso) {
    return new Intl.DateTimeFormat(lang() === "vi" ? "vi-VN" : "en-GB", {
      timeZone: "Asia/Ho_Chi_Minh", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false
    }).format(new Date(iso));
  }

  function showTally() {
    $("tally").classList.toggle("hidden", tally.checked === 0 && !stream);
    $("tally-checked").textContent = String(tally.checked);
    $("tally-valid").textContent = String(tally.valid);
    $("tally-invalid").textContent = String(tally.invalid);
    var list = $("tally-recent");
    while (list.firstChild) { list.removeChild(list.firstChild); }
    tally.recent.forEach(function (entry) {
      var item = document.createElement("li");
      item.className = entry.status === "valid" ? "valid" : "invalid";
      item.dataset.status = entry.status;
      var status = texts.status[entry.status] ? texts.status[entry.status][lang()] : entry.status;
      item.textContent = formatTime(entry.at) + " · " + (entry.number || "—") + " · " + status;
      list.appendChild(item);
    });
  }

  function count(verdict) {
    tally.checked += 1;
    if (verdict.status === "valid") { tally.valid += 1; } else { tally.invalid += 1; }
    tally.recent.unshift({
      at: verdict.checked_at || new Date().toISOString(),
      number: verdict.permit ? verdict.permit.number : null,
      status: verdict.status
    });
    tally.recent = tally.recent.slice(0, RECENT);
    writeTally(tally);
    showTally();
  }

  // --- decoding ------------------------------------------------------------------------------------

  function nativeDetector() {
    if (!("BarcodeDetector" in window)) { return Promise.resolve(null); }
    return window.BarcodeDetector.getSupportedFormats().then(function (formats) {
      if (formats.indexOf("qr_code") < 0) { return null; }
      var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      return function () {
        return detector.detect(video).then(function (codes) { return codes.length ? codes[0].rawValue : null; });
      };
    }, function () { return null; });
  }

  function vendoredDecoder() {
    // jsQR is a UMD bundle: evaluated as a module it defines self.jsQR.
    return import(DECODER).then(function () {
      var canvas = document.createElement("canvas");
      var context = canvas.getContext("2d", { willReadFrequently: true });
      return function () {
        var scale = Math.min(1, WIDEST / Math.max(video.videoWidth, video.videoHeight));
        var width = Math.round(video.videoWidth * scale), height = Math.round(video.videoHeight * scale);
        if (!width || !height) { return Promise.resolve(null); }
        canvas.width = width;
        canvas.height = height;
        context.drawImage(video, 0, 0, width, height);
        // A printed permit is dark on light: not trying the inverted image halves the work per frame.
        var code = window.jsQR(context.getImageData(0, 0, width, height).data, width, height, { inversionAttempts: "dontInvert" });
        return Promise.resolve(code ? code.data : null);
      };
    });
  }

  function decoder() {
    return nativeDetector().then(function (native) { return native || vendoredDecoder(); });
  }

  // --- the camera ----------------------------------------------------------------------------------

  function cameraProblem(error) {
    var name = error && error.name;
    return name === "NotAllowedError" || name === "SecurityError" ? "camera_refused" : "camera_absent";
  }

  function start() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      say("camera_absent");
      return;
    }
    button.disabled = true;
    say("scan_starting");
    navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: "environment" } }, audio: false }).then(function (media) {
      stream = media;
      return decoder().then(function (found) {
        detect = found;
        video.srcObject = stream;
        return video.play();
      }, function () {
        stop();
        say("scan_failed");
        return Promise.reject(null);
      }).then(function () {
        video.classList.remove("hidden");
        document.body.classList.add("scanning");
        button.dataset.text = "scan_stop";
        button.textContent = t("scan_stop");
        button.disabled = false;
        say("scan_hint");
        showTally();
        next();
      });
    }, function (error) {
      button.disabled = false;
      say(cameraProblem(error));
    }).catch(function (error) {
      if (error !== null) { stop(); say("scan_failed"); }
    });
  }

  // A check already handed over is still counted when its answer comes (see "permit-checked").
  function stop() {
    window.clearTimeout(timer);
    timer = null;
    if (stream) { stream.getTracks().forEach(function (track) { track.stop(); }); }
    stream = null;
    video.srcObject = null;
    video.classList.add("hidden");
    document.body.classList.remove("scanning");
    button.dataset.text = "scan";
    button.textContent = t("scan");
    button.disabled = false;
    if (messageKey === "scan_hint" || messageKey === "scan_starting") { say(null); }
    showTally();
  }

  function next() {
    if (stream) { timer = window.setTimeout(look, FRAME_MS); }
  }

  function look() {
    if (!stream || waiting) { return; }
    detect().then(function (text) {
      var now = Date.now();
      if (text && !(text === last.text && now - last.seen < SAME_CODE_MS)) {
        last = { text: text, seen: now };
        hand(text);
        return;
      }
      if (text) { last.seen = now; }
      next();
    }, next);
  }

  function hand(text) {
    waiting = true;
    waitTimer = window.setTimeout(resume, ANSWER_MS);
    document.dispatchEvent(new CustomEvent("permit-scan", { detail: text }));
  }

  function resume() {
    window.clearTimeout(waitTimer);
    waiting = false;
    last.seen = Date.now();
    next();
  }

  document.addEventListener("permit-checked", function (event) {
    if (!waiting) { return; }  // a link pasted or opened: not part of the scanning round
    if (event.detail.verdict) { count(event.detail.verdict); }
    // The answer is at the top of the page; the viewfinder stays in its bar at the bottom.
    if (stream) { $("result").scrollIntoView({ block: "start" }); }
    resume();
  });

  button.addEventListener("click", function () {
    if (stream) { stop(); } else { start(); }
  });
  $("tally-clear").addEventListener("click", function () {
    tally = emptyTally();
    writeTally(tally);
    showTally();
  });
  // The camera is not kept on behind another app or a locked screen.
  document.addEventListener("visibilitychange", function () {
    if (document.hidden && stream) { stop(); }
  });
  // verify.js switches the language by setting <html lang>; the words made here follow it.
  new MutationObserver(function () {
    if (messageKey) { say(messageKey); }
    showTally();
  }).observe(document.documentElement, { attributes: true, attributeFilter: ["lang"] });

  $("scan").hidden = false;
  showTally();
}());
