/* The console's one script: asks once before a change that matters, and
 * lets the keyboard scroll a table that is wider than the screen (below).
 *
 * A submit button (or form) with data-confirm="what will change" opens a
 * dialog with that text and, when data-confirm-before / data-confirm-field
 * name the old text and the field with the new one, both in colour.
 * Confirm submits the form as the button would, without its `review` field,
 * so the change is made at once; Cancel (or Escape) keeps everything as it
 * was. Without JavaScript the form posts `review=1` and the server answers
 * with a page that asks the same (ivr/console/confirm.py).
 */
(function () {
  "use strict";
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function ask(button, form) {
    var dialog = el("dialog", "confirm");
    dialog.setAttribute("aria-labelledby", "confirm-title");
    dialog.appendChild(el("h2", "", button.dataset.confirmTitle || "Are you sure?")).id = "confirm-title";
    dialog.appendChild(el("p", "", button.dataset.confirm));
    var field = button.dataset.confirmField && form.elements[button.dataset.confirmField];
    if (field && button.dataset.confirmBefore !== undefined && field.value !== button.dataset.confirmBefore) {
      var diff = el("div", "diff");
      diff.appendChild(el("del", "", button.dataset.confirmBefore || "(nothing)"));
      diff.appendChild(el("ins", "", field.value));
      dialog.appendChild(diff);
    }
    var buttons = el("p", "buttons");
    var yes = el("button", "", button.dataset.confirmYes || button.textContent.trim());
    var no = el("button", "secondary", "Cancel");
    yes.type = no.type = "button";
    buttons.appendChild(yes);
    buttons.appendChild(no);
    dialog.appendChild(buttons);
    document.body.appendChild(dialog);
    function close() { dialog.close(); dialog.remove(); button.focus(); }
    no.addEventListener("click", close);
    dialog.addEventListener("cancel", function (event) { event.preventDefault(); close(); });
    yes.addEventListener("click", function () {
      button.dataset.confirmed = "yes";
      if (form.elements.review) form.elements.review.value = "";
      dialog.close();
      dialog.remove();
      if (form.requestSubmit) form.requestSubmit(button); else button.click();
    });
    dialog.showModal();
    no.focus();
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var button = event.submitter || form.querySelector("[data-confirm]");
    if (!button || !button.dataset.confirm) return;
    if (button.dataset.confirmed === "yes") { delete button.dataset.confirmed; return; }
    event.preventDefault();
    ask(button, form);
  });

  /* A table wider than the screen scrolls inside its .table-scroll box. While
   * it does, the box is a named region in the tab order, so the arrow keys
   * scroll it; when everything fits again it leaves the tab order. */
  function scrollerName(box) {
    var caption = box.querySelector("caption");
    if (caption && caption.textContent.trim()) return caption.textContent.trim();
    var section = box.closest("section, main");
    var heading = section && section.querySelector("h1, h2, h3");
    return heading ? heading.textContent.trim() : "Table";
  }

  function markScrollers() {
    var boxes = document.querySelectorAll(".table-scroll");
    for (var i = 0; i < boxes.length; i++) {
      var box = boxes[i];
      var scrolls = box.scrollWidth > box.clientWidth + 1;
      if (scrolls && !box.hasAttribute("tabindex")) {
        box.tabIndex = 0;
        box.setAttribute("role", "region");
        box.setAttribute("aria-label", scrollerName(box) + " (scrolls sideways)");
        box.dataset.scrollMarked = "yes";
      } else if (!scrolls && box.dataset.scrollMarked === "yes") {
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
        box.removeAttribute("aria-label");
        delete box.dataset.scrollMarked;
      }
    }
  }

  var pending = null;
  function later() {
    if (pending) window.cancelAnimationFrame(pending);
    pending = window.requestAnimationFrame(function () { pending = null; markScrollers(); });
  }
  markScrollers();
  window.addEventListener("resize", later);
  document.addEventListener("toggle", later, true);  /* a <details> opened */
})();
