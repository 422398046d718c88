// files.js: a file chosen in a file input of the portal is checked against the input's
// data-max-bytes and accept= before anything is sent, and the error is shown beside the input
// (its <id>-error paragraph, aria-invalid) in the words the server uses when it refuses the
// same file (data-too-large, data-bad-type). The server checks everything anyway.
(function () {
  "use strict";
  function check(input) {
    var err = document.getElementById(input.id + "-error");
    var max = Number(input.dataset.maxBytes);
    var types = (input.accept || "").split(",").filter(Boolean);
    var msg = "";
    for (var i = 0; i < input.files.length && !msg; i++) {
      var f = input.files[i];
      if (max && f.size > max) {
        msg = input.dataset.tooLarge;
      } else if (types.length && f.type && types.indexOf(f.type) < 0) {
        msg = input.dataset.badType;
      }
    }
    if (err) {
      err.textContent = msg;
      err.hidden = !msg;
    }
    if (msg) {
      input.setAttribute("aria-invalid", "true");
    } else {
      input.removeAttribute("aria-invalid");
    }
    return !msg;
  }
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t instanceof HTMLInputElement && t.type === "file" && t.dataset.maxBytes) {
      check(t);
    }
  });
  document.addEventListener("submit", function (e) {
    var first = null;
    e.target.querySelectorAll('input[type="file"][data-max-bytes]').forEach(function (input) {
      if (!check(input) && !first) {
        first = input;
      }
    });
    if (first) {
      e.preventDefault();
      e.stopImmediatePropagation();
      first.focus();
    }
  }, true);
})();
