// Small conveniences of every dashboard page, none of which a page needs to
// work: copy buttons, and the document title kept in step with the live
// counts. A separate file, so that the Content Security Policy can forbid
// inline scripts.
(function () {
  "use strict";

  // Copy buttons: <button class="copy" data-copy="text"> copies its text;
  // data-copy-from="id" copies the text of that element instead (the raw
  // JSON, which is swapped live); when that element is absent (a JSON too
  // big to show inline) data-copy-url names where to fetch the text. A copy
  // that fails says so on the button rather than "Copied". They are hidden
  // until this script runs.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain http outside localhost has no clipboard API.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    var ok = document.execCommand("copy");
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  document.documentElement.classList.add("js");
  document.addEventListener("click", function (e) {
    var btn = e.target.closest ? e.target.closest("button.copy") : null;
    if (!btn) {
      return;
    }
    e.preventDefault();
    var label = btn.getAttribute("data-label") || btn.getAttribute("aria-label") || "";
    btn.setAttribute("data-label", label);
    var text = btn.getAttribute("data-copy");
    var from = btn.getAttribute("data-copy-from");
    var url = btn.getAttribute("data-copy-url");
    var el = from ? document.getElementById(from) : null;
    var done;
    if (from && el) {
      done = copyText(el.textContent);
    } else if (url) {
      done = copyFetched(url);
    } else if (from || !text) {
      done = Promise.reject(new Error("nothing to copy"));
    } else {
      done = copyText(text);
    }
    done.then(function () {
      btn.setAttribute("data-copied", "1");
      btn.setAttribute("aria-label", label.replace(/^Copy/, "Copied"));
      setTimeout(function () {
        btn.removeAttribute("data-copied");
        btn.setAttribute("aria-label", label);
      }, 1500);
    }, function () {
      btn.setAttribute("data-copied", "0");
      btn.setAttribute("aria-label", label.replace(/^Copy/, "Could not copy") + ": use the download");
    });
  });

  // copyFetched copies what url answers. The clipboard is given a promise
  // of the text, so that the click's permission to write holds while the
  // text is fetched.
  function copyFetched(url) {
    var text = fetch(url, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) {
        throw new Error("fetch " + url + ": " + r.status);
      }
      return r.text();
    });
    if (navigator.clipboard && window.isSecureContext && window.ClipboardItem) {
      return navigator.clipboard.write([new ClipboardItem({
        "text/plain": text.then(function (t) { return new Blob([t], { type: "text/plain" }); })
      })]);
    }
    return text.then(copyText);
  }

  // The title counts running and failed operations; the counts bar (#counts,
  // replaced live on the pages that show it) carries the numbers.
  var meta = document.querySelector('meta[name="eventops-title"]');
  var base = meta ? meta.getAttribute("content") : null;
  function retitle() {
    var c = document.getElementById("counts");
    if (!c || !base) {
      return;
    }
    var running = c.getAttribute("data-running") || "0";
    var failed = c.getAttribute("data-failed") || "0";
    document.title = running === "0" && failed === "0" ? base :
      "(" + running + " running · " + failed + " failed) " + base;
  }
  document.addEventListener("htmx:oobAfterSwap", retitle);
  document.addEventListener("htmx:wsAfterMessage", retitle);
})();
