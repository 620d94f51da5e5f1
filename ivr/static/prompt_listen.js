// The prompt page's "Listen in the browser" button (a file, not inline: the CSP allows no inline script).
(function () {
  var button = document.getElementById("speak");
  if (!("speechSynthesis" in window)) { button.hidden = true; return; }
  button.addEventListener("click", function () {
    var words = new SpeechSynthesisUtterance(button.dataset.text.replace(/<[^>]+>/g, " "));
    words.lang = button.dataset.lang;
    window.speechSynthesis.cancel();
    window.speechSynthesis.speak(words);
  });
})();
