// The page's service worker (verifier/web/local.py serves it at /sw.js, so that it covers /v):
// keeps the page and the files it checks permits with, so that it opens and checks offline.
// It sees no token: a token travels after '#', which is in no request.
//
// - the page (/v, /): from the network when it answers (its copy kept), else the copy kept;
// - the files of SHELL: kept when the worker installs, served from there (a new release of
//   them is a new worker: VERSION is their digest); other static files kept when first used;
// - the documents (/api/v1/registry, /api/v1/status/…): passed on, asked again of the server
//   even if the browser's cache holds them (cache: no-cache), so that a page is as current as
//   the server; the page keeps those it accepted itself, so that no older one replaces them;
// - anything else (the API's fallback, POST /api/v1/verify) is left alone.
"use strict";
const VERSION = {{ version|tojson }};
const SHELL = {{ shell|tojson }};
const CACHE = "permit-page-" + VERSION;
const PAGE = SHELL[0];
// After this long, a page that is not coming is taken from the copy kept (a weak connection).
const PAGE_TIMEOUT_MS = 4000;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL.map((url) => new Request(url, { cache: "no-cache" })))).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((name) => name.startsWith("permit-page-") && name !== CACHE).map((name) => caches.delete(name))))
    .then(() => self.clients.claim()));
});

function page(request) {
  const kept = () => caches.match(PAGE, { cacheName: CACHE });
  const network = fetch(request).then((response) => {
    if (response.ok) {
      const copy = response.clone();
      caches.open(CACHE).then((cache) => cache.put(PAGE, copy));
    }
    return response;
  });
  const late = new Promise((resolve) => setTimeout(resolve, PAGE_TIMEOUT_MS)).then(kept).then((copy) => copy || network);
  return Promise.race([network.catch(() => kept().then((copy) => copy || Response.error())), late]);
}

function shell(request) {
  return caches.open(CACHE).then((cache) => cache.match(request, { ignoreVary: true }).then((kept) => kept || fetch(request).then((response) => {
    if (response.ok) cache.put(request, response.clone());
    return response;
  })));
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && (url.pathname === "/v" || url.pathname === "/")) {
    event.respondWith(page(request));
  } else if (url.pathname.startsWith("/static/") || SHELL.includes(url.pathname)) {
    // (/static/vendor/…: the camera's decoder, kept the first time an inspector scans online)
    event.respondWith(shell(request));
  } else if (url.pathname === "/api/v1/registry" || url.pathname.startsWith("/api/v1/status/")) {
    event.respondWith(fetch(request, { cache: "no-cache" }));
  }
});
