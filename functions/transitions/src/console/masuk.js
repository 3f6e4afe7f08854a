// The console's sign-in hop (the only script in Loket): OAuth 2.0 authorization code with
// PKCE. Without a code, it keeps a fresh verifier and state in this tab's session storage
// and goes to the identity provider with the code challenge. Back with ?code=&state=, it
// checks the state, trades the code and the verifier for the ID token at the token
// endpoint, and posts the token once, as a bearer token, to the session endpoint behind
// the HTTP API's JWT authorizer; the answer sets an HttpOnly session cookie. Then to the
// queue. No token is ever put in a URL.
(function () {
  "use strict";
  var box = document.getElementById("masuk");
  var status = document.getElementById("status");
  var KEY = "loket-masuk";

  function fail(text) {
    status.textContent = text + " ";
    var a = document.createElement("a");
    a.href = box.getAttribute("data-here");
    a.textContent = "Masuk lagi";
    status.appendChild(a);
  }

  function b64url(bytes) {
    var s = "";
    for (var i = 0; i < bytes.length; i++) {
      s += String.fromCharCode(bytes[i]);
    }
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function random() {
    var bytes = new Uint8Array(32);
    crypto.getRandomValues(bytes);
    return b64url(bytes);
  }

  function start() {
    var verifier = random();
    var state = random();
    sessionStorage.setItem(KEY, JSON.stringify({ verifier: verifier, state: state }));
    crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)).then(function (digest) {
      var login = new URL(box.getAttribute("data-login"));
      login.searchParams.set("state", state);
      login.searchParams.set("code_challenge", b64url(new Uint8Array(digest)));
      login.searchParams.set("code_challenge_method", "S256");
      window.location.assign(login.toString());
    }, function () {
      fail("Peramban ini tidak dapat menyiapkan proses masuk.");
    });
  }

  function finish(code, state) {
    var kept = null;
    try {
      kept = JSON.parse(sessionStorage.getItem(KEY) || "null");
    } catch (e) {
      kept = null;
    }
    sessionStorage.removeItem(KEY);
    if (!kept || kept.state !== state) {
      fail("Tanda masuk tidak cocok atau sudah dipakai.");
      return;
    }
    var login = new URL(box.getAttribute("data-login"));
    var form = new URLSearchParams();
    form.set("grant_type", "authorization_code");
    form.set("client_id", login.searchParams.get("client_id") || "");
    form.set("redirect_uri", login.searchParams.get("redirect_uri") || "");
    form.set("code", code);
    form.set("code_verifier", kept.verifier);
    fetch(box.getAttribute("data-token"), {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: form.toString(),
      credentials: "omit"
    }).then(function (response) {
      if (!response.ok) {
        throw new Error("token " + response.status);
      }
      return response.json();
    }).then(function (tokens) {
      if (!tokens || !tokens.id_token) {
        throw new Error("no id_token");
      }
      return fetch(box.getAttribute("data-session"), {
        method: "POST",
        headers: { Authorization: "Bearer " + tokens.id_token },
        credentials: "same-origin"
      });
    }).then(function (response) {
      if (response.ok) {
        window.location.replace(box.getAttribute("data-next"));
      } else if (response.status === 403) {
        fail("Akun Anda belum memiliki peran petugas. Hubungi admin.");
      } else {
        fail("Gagal masuk (" + response.status + ").");
      }
    }, function () {
      fail("Gagal masuk: penyedia identitas atau server tidak dapat dihubungi.");
    });
  }

  var params = new URLSearchParams(window.location.search);
  var code = params.get("code");
  var error = params.get("error");
  history.replaceState(null, "", window.location.pathname);
  if (error) {
    fail("Masuk dibatalkan atau ditolak (" + error + ").");
  } else if (code) {
    finish(code, params.get("state") || "");
  } else {
    start();
  }
})();
