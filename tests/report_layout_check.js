// Injected by tests/test_report.py into a copy of the report (the report itself has no script), run by
// headless Chromium with --dump-dom: does any text leave its box?
//
// Every SVG <text> must lie inside its chart's view box and its <svg> element; every line of HTML text
// inside each enclosing element that draws a box (a border, a background, or overflow that clips),
// and inside the page's width. The verdict is written into the DOM as JSON, in a <pre> with id layout-check:
// {"checked": <pieces of text measured>, "pageWidth", "scrollWidth", "problems": [{text, box, overflow}]}.
(function () {
  const TOLERANCE = 0.5; // px: sub-pixel rounding
  const problems = [];
  let checked = 0;
  const pageWidth = document.documentElement.clientWidth;

  function drawsBox(element) {
    if (element instanceof SVGSVGElement) return true;
    const style = getComputedStyle(element);
    if (style.overflowX !== "visible" || style.overflowY !== "visible") return true;
    if (style.backgroundColor !== "rgba(0, 0, 0, 0)" && style.backgroundColor !== "transparent") return true;
    return ["Top", "Right", "Bottom", "Left"].some(
      (side) => style["border" + side + "Style"] !== "none" && parseFloat(style["border" + side + "Width"]) > 0
    );
  }

  function describe(element) {
    if (element.id) return element.tagName.toLowerCase() + "#" + element.id;
    const name = element.getAttribute("class");
    const owner = element.closest("[id]");
    return element.tagName.toLowerCase() + (name ? "." + name.split(" ")[0] : "") + (owner ? " in #" + owner.id : "");
  }

  function viewBox(svg) {
    const box = svg.viewBox && svg.viewBox.baseVal;
    if (!box || !box.width) return null;
    const matrix = svg.getScreenCTM();
    const a = new DOMPoint(box.x, box.y).matrixTransform(matrix);
    const b = new DOMPoint(box.x + box.width, box.y + box.height).matrixTransform(matrix);
    return { left: Math.min(a.x, b.x), right: Math.max(a.x, b.x), top: Math.min(a.y, b.y), bottom: Math.max(a.y, b.y) };
  }

  function outside(rect, box, text, name) {
    const overflow = {
      left: box.left - rect.left,
      right: rect.right - box.right,
      top: box.top - rect.top,
      bottom: rect.bottom - box.bottom,
    };
    if (Object.values(overflow).some((value) => value > TOLERANCE)) {
      for (const side in overflow) overflow[side] = Math.round(overflow[side] * 10) / 10;
      problems.push({ text: text, box: name, overflow: overflow });
    }
  }

  function check(text, rect, start) {
    if (rect.width === 0 && rect.height === 0) return; // not rendered (e.g. <title>)
    checked += 1;
    outside(rect, { left: 0, right: pageWidth, top: -Infinity, bottom: Infinity }, text, "page");
    for (let element = start; element && element !== document.body; element = element.parentElement) {
      if (drawsBox(element)) outside(rect, element.getBoundingClientRect(), text, describe(element));
      if (element instanceof SVGSVGElement) {
        const box = viewBox(element);
        if (box) outside(rect, box, text, describe(element) + " view box");
      }
    }
  }

  for (const element of document.querySelectorAll("svg text")) {
    check(element.textContent, element.getBoundingClientRect(), element.parentElement);
  }
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!node.textContent.trim() || parent.closest("svg, script, style, title")) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    for (const rect of range.getClientRects()) check(node.textContent.trim().slice(0, 80), rect, parent);
  }

  const verdict = document.createElement("pre");
  verdict.id = "layout-check";
  verdict.textContent = JSON.stringify({
    checked: checked,
    pageWidth: pageWidth,
    scrollWidth: document.documentElement.scrollWidth,
    problems: problems,
  });
  document.body.appendChild(verdict);
})();
