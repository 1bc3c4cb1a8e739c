// voiceapp console: refresh the parts of a page marked data-refresh while data-live="1".
// No library, nothing fetched from elsewhere: the part is fetched again from this server
// (same origin, the session cookie) every 2 s and swapped in place.
"use strict";
(function () {
  const PERIOD_MS = 2000;
  function watch(id) {
    const tick = async function () {
      const part = document.getElementById(id);
      if (!part || part.dataset.live !== "1") return;
      try {
        const answer = await fetch(part.dataset.refresh, { credentials: "same-origin" });
        if (answer.ok) {
          const holder = document.createElement("template");
          holder.innerHTML = await answer.text();
          const fresh = holder.content.getElementById(id);
          if (fresh) part.replaceWith(fresh);
        }
      } catch (err) {
        // the server is away for a moment: try again at the next tick
      }
      window.setTimeout(tick, PERIOD_MS);
    };
    window.setTimeout(tick, PERIOD_MS);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-refresh][id]").forEach(function (part) {
      if (part.dataset.live === "1") watch(part.id);
    });
  });
})();
