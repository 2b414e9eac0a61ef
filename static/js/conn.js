// The live page's client side, in one file so that the Content Security
// Policy can forbid inline scripts. htmx's ws extension owns the socket and
// swaps what the server pushes; this file owns everything around it:
//
//   - the connection indicator (#conn) and, while disconnected, a dimmed
//     page with its actions disabled, "last updated HH:MM:SS" and
//     "Reconnect now";
//   - the reconnect schedule: capped exponential backoff, starting under a
//     second (window.eventopsConn exposes it, for tests and the curious);
//   - telling a signed-out session (the /ws upgrade answers 401, which a
//     browser reports only as close code 1006) from a network cut, by
//     asking GET /session;
//   - keyboard focus and scroll position across swaps, and a polite live
//     region announcing status changes;
//   - times: operation times in the browser's zone (named), relative times
//     that keep counting, durations of running work that tick;
//   - the phase tree's filter (all, failed, running) and, on load, the
//     failing phase scrolled into view.
(function () {
  "use strict";

  // ---- times (every page) ----

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function hms(d) {
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }

  // zoneName is the browser's short zone name at d ("CET", "GMT+1").
  function zoneName(d) {
    try {
      var parts = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" }).formatToParts(d);
      for (var i = 0; i < parts.length; i++) {
        if (parts[i].type === "timeZoneName") {
          return parts[i].value;
        }
      }
    } catch (e) {
      // fall through
    }
    return "local";
  }

  function localStamp(d, withDate) {
    var s = hms(d);
    if (withDate) {
      s = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + s;
    }
    return s + " " + zoneName(d);
  }

  // duration renders milliseconds as the server does: 850ms, 12.4s,
  // 3m05s, 2h04m.
  function duration(ms) {
    if (ms < 0) {
      return "—";
    }
    if (ms < 1000) {
      return Math.floor(ms) + "ms";
    }
    if (ms < 60000) {
      return (ms / 1000).toFixed(1) + "s";
    }
    var s = Math.floor(ms / 1000);
    if (ms < 3600000) {
      return Math.floor(s / 60) + "m" + pad(s % 60) + "s";
    }
    var m = Math.floor(s / 60);
    return Math.floor(m / 60) + "h" + pad(m % 60) + "m";
  }

  function relative(ms) {
    var s = Math.round(ms / 1000);
    if (s < 5) {
      return "just now";
    }
    if (s < 60) {
      return s + " s ago";
    }
    var m = Math.floor(s / 60);
    if (m < 60) {
      return m + " min ago";
    }
    var h = Math.floor(m / 60);
    if (h < 48) {
      return h + " h " + pad(m % 60) + " min ago";
    }
    return Math.floor(h / 24) + " days ago";
  }

  // times rewrites every time element under root: data-local shows the
  // browser's time with its zone, data-rel the time since, data-since a
  // running duration ("running 12.4s").
  function times(root) {
    var now = Date.now();
    var els = root.querySelectorAll("time[data-local], time[data-rel], [data-since]");
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      if (el.hasAttribute("data-since")) {
        var since = Date.parse(el.getAttribute("data-since"));
        if (!isNaN(since)) {
          el.textContent = (el.getAttribute("data-prefix") || "") + duration(now - since);
        }
        continue;
      }
      var t = Date.parse(el.getAttribute("datetime"));
      if (isNaN(t)) {
        continue;
      }
      if (el.hasAttribute("data-rel")) {
        el.textContent = relative(now - t);
        el.title = localStamp(new Date(t), true);
      } else {
        el.textContent = localStamp(new Date(t), el.getAttribute("data-local") !== "time");
        el.title = el.getAttribute("datetime");
      }
    }
  }

  // bars places the timeline's bars: each row's start and length (ms from
  // the operation's creation) as CSS variables, and the axis's length as
  // one variable on the timeline (--span) that every bar scales by. A
  // running bar or axis ends now, and grows each second.
  function bars() {
    var tl = document.querySelector("#op-timeline .tl-rows");
    var axis = document.getElementById("tl-axis");
    if (!tl || !axis) {
      return;
    }
    var t0 = Date.parse(axis.getAttribute("data-start"));
    var end = axis.getAttribute("data-end") ? Date.parse(axis.getAttribute("data-end")) : Date.now();
    var span = Math.max(1, end - t0);
    tl.style.setProperty("--span", String(span));
    var rows = tl.querySelectorAll(".tl-row");
    var critical = {};
    var crit = document.getElementById("tl-critical");
    (crit && crit.getAttribute("data-ids") ? crit.getAttribute("data-ids").split(" ") : []).forEach(function (id) {
      critical[id] = true;
    });
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i];
      var bar = r.querySelector(".tl-bar");
      var a = r.getAttribute("data-start");
      if (!bar || a === "") {
        r.classList.remove("critical");
        continue;
      }
      var s = +a;
      var e = r.getAttribute("data-end") === "" ? span : +r.getAttribute("data-end");
      var d = Math.max(0, e - s);
      bar.style.setProperty("--s", String(s));
      bar.style.setProperty("--d", String(d));
      r.classList.toggle("critical", !!critical[r.getAttribute("data-phase")]);
      var segs = bar.querySelectorAll(".seg");
      for (var j = 0; j < segs.length; j++) {
        var ss = +segs[j].getAttribute("data-start");
        var se = segs[j].getAttribute("data-end") === "" ? e : +segs[j].getAttribute("data-end");
        segs[j].style.setProperty("--a", String(d ? (ss - s) / d : 0));
        segs[j].style.setProperty("--b", String(d ? Math.max(0, se - ss) / d : 1));
      }
    }
  }

  function refresh(root) {
    times(root);
    bars();
  }

  refresh(document);
  setInterval(function () {
    refresh(document);
  }, 1000);

  // ---- the phase tree: filter, and the failing phase brought into view ----

  var tree = document.getElementById("op-tree");
  document.addEventListener("click", function (e) {
    var b = e.target.closest ? e.target.closest("button[data-tree-filter]") : null;
    var t = document.getElementById("op-tree");
    if (!b || !t) {
      return;
    }
    var f = b.getAttribute("data-tree-filter");
    t.classList.remove("only-failed", "only-running");
    if (f !== "all") {
      t.classList.add("only-" + f);
      // What the filter shows is opened.
      var open = t.querySelectorAll("li.phase:has(.ph-node.st-" + f + ") > details");
      for (var i = 0; i < open.length; i++) {
        open[i].open = true;
      }
    }
    var all = document.querySelectorAll("button[data-tree-filter]");
    for (var j = 0; j < all.length; j++) {
      all[j].setAttribute("aria-pressed", all[j] === b ? "true" : "false");
    }
  });
  if (tree) {
    var cause = tree.querySelector(".root-cause");
    if (cause && !location.hash) {
      cause.scrollIntoView({ block: "center" });
    }
  }

  // ---- the connection (live pages) ----

  var conn = document.getElementById("conn");
  var main = document.querySelector("main[ws-connect]");
  if (!conn || !main) {
    return;
  }

  function num(v, def) {
    var n = parseInt(v, 10);
    return isNaN(n) || n <= 0 ? def : n;
  }

  // The reconnect schedule: the first retry within first ms (under a
  // second), each next one within twice the last, never beyond max; each
  // delay is drawn from its upper half so that pages do not reconnect in
  // step after a restart. The page may override both with data attributes
  // on its <main>.
  var config = {
    first: num(main.getAttribute("data-reconnect-first"), 800),
    max: num(main.getAttribute("data-reconnect-max"), 10000)
  };

  function delay(n) {
    var d = Math.min(config.max, config.first * Math.pow(2, n));
    return d / 2 + Math.random() * (d / 2);
  }

  // htmx's ws extension would schedule its own reconnect, out of reach of
  // "Reconnect now": its timer is pushed out of the way and this file
  // schedules reconnects itself.
  if (window.htmx) {
    // Settling would copy an element's style attribute (the bars'
    // variables, set through the CSSOM) onto its replacement with
    // setAttribute, which the CSP refuses.
    window.htmx.config.attributesToSettle = ["class", "width", "height"];
    window.htmx.config.wsReconnectDelay = function () {
      return 2147483647;
    };
  }

  // htmx's ws extension reconnects after these close codes.
  var retried = [1006, 1011, 1012, 1013];
  var socket = null; // the extension's socket wrapper (reconnect, send)
  var retries = 0;
  var timer = null;
  var lastUpdate = new Date(); // the page itself was current when it loaded
  var signedOut = false;

  var announcer = document.createElement("div");
  announcer.id = "conn-announce";
  announcer.className = "visually-hidden";
  announcer.setAttribute("aria-live", "polite");
  document.body.appendChild(announcer);

  var stale = document.createElement("span");
  stale.id = "conn-stale";
  stale.hidden = true;
  var staleText = document.createElement("span");
  var reconnectNow = document.createElement("button");
  reconnectNow.type = "button";
  reconnectNow.className = "link";
  reconnectNow.textContent = "Reconnect now";
  stale.appendChild(staleText);
  stale.appendChild(document.createTextNode(" "));
  stale.appendChild(reconnectNow);
  conn.parentNode.insertBefore(stale, conn.nextSibling);

  function show(state, text) {
    conn.className = "conn " + state;
    conn.textContent = text;
    conn.setAttribute("data-state", state);
  }

  function announce(text) {
    announcer.textContent = text;
  }

  // Actions are disabled while the page may be stale: a Cancel offered for
  // an operation that finished meanwhile must not be pressed.
  function setDisconnected(on) {
    document.body.classList.toggle("disconnected", on);
    var buttons = main.querySelectorAll("form button, form input[type=submit]");
    for (var i = 0; i < buttons.length; i++) {
      var b = buttons[i];
      if (on && !b.disabled) {
        b.disabled = true;
        b.setAttribute("data-conn-disabled", "");
      } else if (!on && b.hasAttribute("data-conn-disabled")) {
        b.disabled = false;
        b.removeAttribute("data-conn-disabled");
      }
    }
    stale.hidden = !on;
    if (on) {
      staleText.textContent = "last updated " + hms(lastUpdate) + " " + zoneName(lastUpdate);
    }
  }

  function reconnect() {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    if (socket && !signedOut) {
      show("reconnecting", "reconnecting…");
      socket.reconnect();
    }
  }
  reconnectNow.addEventListener("click", reconnect);

  function schedule() {
    if (timer || signedOut) {
      return;
    }
    var wait = delay(retries);
    retries++;
    conn.setAttribute("data-retry-in", String(Math.round(wait)));
    timer = setTimeout(function () {
      timer = null;
      reconnect();
    }, wait);
  }

  function showSignedOut() {
    signedOut = true;
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    conn.className = "conn off";
    conn.setAttribute("data-state", "signed-out");
    conn.textContent = "Signed out — ";
    var a = document.createElement("a");
    a.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
    a.textContent = "sign in again";
    conn.appendChild(a);
    reconnectNow.hidden = true;
    announce("Signed out: sign in again to keep this page current.");
  }

  // checkSession asks whether the session still holds: 401 means the
  // page must not keep trying; anything else (a network error while the
  // server restarts included) means try again.
  function checkSession(then) {
    fetch("/session", { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      if (r.status === 401) {
        showSignedOut();
      } else {
        then(r.ok);
      }
    }, function () {
      then(false);
    });
  }

  window.eventopsConn = { config: config, delay: delay, reconnect: reconnect };

  show("connecting", "connecting…");
  document.addEventListener("htmx:wsConnecting", function () {
    if (conn.getAttribute("data-state") !== "reconnecting") {
      show("connecting", "connecting…");
    }
  });
  document.addEventListener("htmx:wsOpen", function (e) {
    socket = e.detail.socketWrapper;
    retries = 0;
    lastUpdate = new Date();
    conn.removeAttribute("data-retry-in");
    show("live", "live");
    setDisconnected(false);
  });
  document.addEventListener("htmx:wsClose", function (e) {
    socket = e.detail.socketWrapper || socket;
    var code = e.detail && e.detail.event ? e.detail.event.code : 0;
    if (code === 1005 || signedOut) {
      return; // closed by this page on reconnecting: a newer socket follows
    }
    setDisconnected(true);
    if (retried.indexOf(code) >= 0) {
      show("reconnecting", "reconnecting…");
      checkSession(function () {
        schedule();
      });
    } else {
      show("off", "offline: reload the page");
      checkSession(function () {});
    }
  });

  // Focus, scroll and status across a message's swaps.
  var before = null;

  // locate describes the focused element so that its replacement can be
  // found: its own id, or the nearest ancestor's id and its place among
  // that ancestor's elements of its kind.
  function locate(el) {
    if (!el || el === document.body || !main.contains(el)) {
      return null;
    }
    if (el.id) {
      return { id: el.id };
    }
    var anc = el.parentElement ? el.parentElement.closest("[id]") : null;
    if (!anc) {
      return null;
    }
    var same = anc.querySelectorAll(el.tagName);
    return { anc: anc.id, tag: el.tagName, index: Array.prototype.indexOf.call(same, el) };
  }

  function find(loc) {
    if (loc.id) {
      return document.getElementById(loc.id);
    }
    var anc = document.getElementById(loc.anc);
    return anc ? anc.querySelectorAll(loc.tag)[loc.index] || null : null;
  }

  function opStatus() {
    var s = document.getElementById("op-summary");
    return s ? s.getAttribute("data-status") : null;
  }

  document.addEventListener("htmx:wsBeforeMessage", function () {
    var active = document.activeElement;
    before = {
      active: active,
      loc: locate(active),
      x: window.scrollX,
      y: window.scrollY,
      status: opStatus()
    };
  });
  document.addEventListener("htmx:wsAfterMessage", function () {
    lastUpdate = new Date();
    refresh(main);
    if (!before) {
      return;
    }
    var b = before;
    before = null;
    if (b.loc && !document.body.contains(b.active)) {
      var next = find(b.loc);
      if (next) {
        next.focus({ preventScroll: true });
      }
    }
    if (window.scrollX !== b.x || window.scrollY !== b.y) {
      window.scrollTo(b.x, b.y);
    }
    var now = opStatus();
    if (b.status && now && now !== b.status) {
      var s = document.getElementById("op-summary");
      announce("Operation #" + s.getAttribute("data-op") + " is now " + now + ".");
    }
    if (document.body.classList.contains("disconnected")) {
      setDisconnected(true); // buttons swapped in meanwhile stay disabled
    }
  });
})();
