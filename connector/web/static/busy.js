// A form marked data-busy="…" says what it is doing once sent, and its button cannot be pressed
// a second time: loading the demo takes a few seconds, and a second press would only start the
// same work again.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.busy) {
    return;
  }
  const button = form.querySelector("button[type=submit]");
  if (button === null) {
    return;
  }
  if (button.disabled) {
    event.preventDefault();
    return;
  }
  button.textContent = form.dataset.busy;
  button.disabled = true;
  form.setAttribute("aria-busy", "true");
});
