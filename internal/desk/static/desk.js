// The desk works without this script; it only helps: the duration field
// is enabled only for "suspend", and the chosen action is confirmed for
// bans. No data leaves the page.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var action = document.getElementById("action");
  var duration = document.getElementById("duration");
  if (!action || !duration) return;
  function sync() {
    var suspend = action.value === "suspend";
    duration.disabled = !suspend;
    duration.required = suspend;
  }
  action.addEventListener("change", sync);
  sync();
});
