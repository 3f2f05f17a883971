/* The desk's previews: each PDF attachment drawn page by page into the page with pdf.js (served from
 * the application's own address, as the Content-Security-Policy asks: no eval, no inline style).
 * Without this script each attachment is a link; an image is shown by the page itself. */
const script = document.querySelector("script[data-pdfjs]");
const PERSIAN_DIGITS = "۰۱۲۳۴۵۶۷۸۹";
const fa = (value) => String(value).replace(/[0-9]/g, (d) => PERSIAN_DIGITS[d]);
/** pages drawn at most per document: an attachment is an identity card, a degree, a deed */
const MAX_PAGES = 10;

async function draw(pdfjs, box) {
  const task = pdfjs.getDocument({ url: box.dataset.src, isEvalSupported: false, withCredentials: true });
  const pdf = await task.promise;
  box.textContent = "";
  const total = pdf.numPages;
  for (let n = 1; n <= Math.min(total, MAX_PAGES); n += 1) {
    const page = await pdf.getPage(n);
    const width = Math.max(200, Math.min(box.clientWidth || 600, 900));
    const base = page.getViewport({ scale: 1 });
    const ratio = window.devicePixelRatio || 1;
    const viewport = page.getViewport({ scale: (width / base.width) * ratio });
    const figure = document.createElement("figure");
    const canvas = document.createElement("canvas");
    canvas.width = Math.floor(viewport.width);
    canvas.height = Math.floor(viewport.height);
    canvas.className = "pdf-page";
    canvas.setAttribute("role", "img");
    const caption = document.createElement("figcaption");
    caption.className = "hint";
    caption.textContent = box.dataset.page.replace("{n}", fa(n)).replace("{total}", fa(total));
    canvas.setAttribute("aria-label", box.dataset.label + " · " + caption.textContent);
    figure.append(canvas, caption);
    box.append(figure);
    await page.render({ canvasContext: canvas.getContext("2d"), viewport }).promise;
  }
  box.dataset.state = "drawn";
}

async function main() {
  const boxes = document.querySelectorAll(".pdf-preview[data-src]");
  if (!boxes.length || !script) {
    return;
  }
  let pdfjs;
  try {
    pdfjs = await import(script.dataset.pdfjs);
    pdfjs.GlobalWorkerOptions.workerSrc = script.dataset.worker;
    pdfjs.GlobalWorkerOptions.workerPort = null;
  } catch (error) {
    boxes.forEach((box) => { box.dataset.state = "failed"; box.textContent = box.dataset.failed; });
    return;
  }
  for (const box of boxes) {
    try {
      await draw(pdfjs, box);
    } catch (error) {
      box.dataset.state = "failed";
      box.textContent = box.dataset.failed;
    }
  }
}

main();
