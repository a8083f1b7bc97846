// The dossier's uploads: each chosen file sent in a request of its own, with its progress; a
// file whose connection drops is sent again (three tries), the others are kept. Without this
// script the form still posts its files (one request).
"use strict";
(function () {
  const form = document.getElementById("envoi");
  if (!form) return;
  const shown = document.getElementById("progression");
  const kind = form.querySelector("[name=kind]");
  const input = form.querySelector("[name=file]");

  function send(file, bar, line, tries) {
    return new Promise((resolve) => {
      const data = new FormData();
      data.append("kind", kind.value);
      data.append("file", file);
      const request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.setRequestHeader("Accept", "application/json");
      request.upload.onprogress = (event) => {
        if (event.lengthComputable) bar.value = event.loaded / event.total;
      };
      request.onload = () => {
        if (request.status === 201) {
          bar.value = 1;
          line.textContent = file.name + " — " + form.dataset.done;
          resolve(true);
        } else {
          let detail = String(request.status);
          try { detail = JSON.parse(request.responseText).detail; } catch (e) { /* a page */ }
          line.textContent = file.name + " — " + detail;
          resolve(false);
        }
      };
      request.onerror = () => {  // the connection dropped: this file again, the others kept
        if (tries > 1) {
          line.textContent = file.name + " — " + form.dataset.failed;
          setTimeout(() => send(file, bar, line, tries - 1).then(resolve), 1000);
        } else {
          line.textContent = file.name + " — " + form.dataset.failed;
          resolve(false);
        }
      };
      request.send(data);
    });
  }

  form.addEventListener("submit", async (event) => {
    if (!input.files.length) return;
    event.preventDefault();
    shown.replaceChildren();
    const sending = Array.from(input.files).map((file) => {
      const item = document.createElement("p");
      const line = document.createElement("span");
      line.textContent = file.name;
      const bar = document.createElement("progress");
      bar.max = 1;
      bar.value = 0;
      bar.setAttribute("aria-label", file.name);
      item.append(line, bar);
      shown.append(item);
      return send(file, bar, line, 3);
    });
    const results = await Promise.all(sending);
    if (results.every(Boolean)) window.location.reload();
  });
})();
