/* Sign-in: exchange the API key for the HTTP-only session cookie (POST /session). */
(function () {
  "use strict";
  var form = document.getElementById("signin-form");
  var input = document.getElementById("api-key");
  var error = document.getElementById("signin-error");
  // a deep link to a section (/settings#api-keys) keeps its #fragment through the
  // redirect to this page (the server never sees it): carry it on to the page asked for
  var next = (form.dataset.next || "/") + (form.dataset.next && form.dataset.next.indexOf("#") < 0 ? window.location.hash : "");
  function show(msg) {
    error.textContent = msg;
    error.hidden = !msg;
    input.setAttribute("aria-invalid", msg ? "true" : "false");
  }
  // Already signed in? A sign-in with the identity provider (OIDC) ends in a redirect
  // chain that began on another site, so the browser withholds the SameSite=Strict
  // session cookie from that one page load; a request from this page carries it.
  fetch(form.dataset.api + "/session", {
    credentials: "same-origin",
    headers: { "Accept": "application/json" },
  }).then(function (r) {
    if (r.status === 200) window.location.replace(next);
  }).catch(function () { /* stay on the sign-in page */ });

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var key = input.value.trim();
    if (!key) { show("Enter your API key."); input.focus(); return; }
    show("");
    var button = form.querySelector("button");
    button.disabled = true;
    fetch(form.dataset.api + "/session", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-API-Key": key, "Accept": "application/json" },
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (r.status === 201) {
          try { sessionStorage.setItem("qbr_csrf", body.csrf_token || ""); } catch (e) { /* private mode */ }
          window.location.assign(next);
          return;
        }
        button.disabled = false;
        if (r.status === 401) show("That key is not valid or has been revoked.");
        else show(body.error || ("Sign-in failed (HTTP " + r.status + ")."));
        input.select();
      });
    }).catch(function () {
      button.disabled = false;
      show("The server cannot be reached. Check your connection and try again.");
    });
  });
})();
