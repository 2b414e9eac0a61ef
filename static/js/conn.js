// The connection indicator (#conn) of live pages: htmx's ws extension
// announces each state of the page's websocket with events on the socket's
// element, which bubble here. A separate file, so that the Content Security
// Policy can forbid inline scripts.
(function () {
  "use strict";
  var conn = document.getElementById("conn");
  if (!conn) {
    return;
  }
  // htmx's ws extension reconnects after these close codes only.
  var retried = [1006, 1011, 1012, 1013];

  function show(state, text) {
    conn.className = "conn " + state;
    conn.textContent = text;
    conn.setAttribute("data-state", state);
  }

  show("connecting", "connecting…");
  document.addEventListener("htmx:wsConnecting", function () {
    if (conn.getAttribute("data-state") !== "reconnecting") {
      show("connecting", "connecting…");
    }
  });
  document.addEventListener("htmx:wsOpen", function () {
    show("live", "live");
  });
  document.addEventListener("htmx:wsClose", function (e) {
    var code = e.detail && e.detail.event ? e.detail.event.code : 0;
    if (retried.indexOf(code) >= 0) {
      show("reconnecting", "reconnecting…");
    } else {
      show("off", "offline: reload the page");
    }
  });
})();
