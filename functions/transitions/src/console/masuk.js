// The console's sign-in hop (the only script in Loket). The identity provider sent the
// browser here with a token in the URL fragment (never sent to a server by the browser).
// Post it once, as a bearer token, to the session endpoint behind the HTTP API's JWT
// authorizer; the answer sets an HttpOnly session cookie. Then go to the queue.
(function () {
  "use strict";
  var box = document.getElementById("masuk");
  var status = document.getElementById("status");
  var params = new URLSearchParams(window.location.hash.slice(1));
  var token = params.get("id_token");
  history.replaceState(null, "", window.location.pathname);
  function fail(text) {
    status.textContent = text + " ";
    var login = box.getAttribute("data-login");
    if (login) {
      var a = document.createElement("a");
      a.href = login;
      a.textContent = "Masuk lagi";
      status.appendChild(a);
    }
  }
  if (!token) {
    fail("Tanda masuk tidak ada atau sudah dipakai.");
    return;
  }
  fetch(box.getAttribute("data-session"), {
    method: "POST",
    headers: { Authorization: "Bearer " + token },
    credentials: "same-origin"
  }).then(function (response) {
    if (response.ok) {
      window.location.replace(box.getAttribute("data-next"));
    } else if (response.status === 403) {
      fail("Akun Anda belum memiliki peran petugas. Hubungi admin.");
    } else {
      fail("Gagal masuk (" + response.status + ").");
    }
  }, function () {
    fail("Server tidak dapat dihubungi.");
  });
})();
