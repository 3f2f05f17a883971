/* The case page's BPMN diagram: the process version the case runs on, drawn by bpmn-js's
 * navigated viewer, with the steps already passed and the steps waiting now highlighted.
 * The page works without it: the signed timeline beside it tells the same story in text. */
(function () {
  "use strict";

  var BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL";

  function words(text) {
    return (text || "").split(" ").filter(Boolean);
  }

  /* Lane names in the process files are role codes; show the catalogue's Persian names. */
  function relabelLanes(xml, labels) {
    var doc = new DOMParser().parseFromString(xml, "application/xml");
    if (doc.getElementsByTagName("parsererror").length) {
      return xml;
    }
    var lanes = doc.getElementsByTagNameNS(BPMN_NS, "lane");
    for (var i = 0; i < lanes.length; i++) {
      var label = labels[lanes[i].getAttribute("name")];
      if (label) {
        lanes[i].setAttribute("name", label);
      }
    }
    return new XMLSerializer().serializeToString(doc);
  }

  function awaits(element, messages) {
    var definitions = (element.businessObject && element.businessObject.eventDefinitions) || [];
    return definitions.some(function (definition) {
      return definition.messageRef && messages.indexOf(definition.messageRef.name) >= 0;
    });
  }

  function zoomButtons(holder, canvas) {
    var bar = document.createElement("div");
    bar.className = "diagram-zoom";
    [["zoomIn", "+", function () { canvas.zoom(canvas.zoom() * 1.25); }],
     ["zoomOut", "−", function () { canvas.zoom(canvas.zoom() / 1.25); }],
     ["zoomFit", "⤢", function () { canvas.zoom("fit-viewport", "auto"); }]].forEach(function (spec) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "secondary small";
      button.textContent = spec[1];
      button.setAttribute("aria-label", holder.dataset[spec[0]]);
      button.title = holder.dataset[spec[0]];
      button.addEventListener("click", spec[2]);
      bar.appendChild(button);
    });
    holder.parentNode.insertBefore(bar, holder);
  }

  /* Pan with a finger (the viewer pans with a mouse only) and with the arrow keys; zoom with + and -. */
  function navigation(holder, canvas) {
    var last = null;
    holder.addEventListener("pointerdown", function (event) {
      if (event.pointerType !== "mouse") {
        last = { x: event.clientX, y: event.clientY };
      }
    });
    holder.addEventListener("pointermove", function (event) {
      if (last && event.pointerType !== "mouse") {
        canvas.scroll({ dx: event.clientX - last.x, dy: event.clientY - last.y });
        last = { x: event.clientX, y: event.clientY };
      }
    });
    ["pointerup", "pointercancel", "pointerleave"].forEach(function (type) {
      holder.addEventListener(type, function () { last = null; });
    });
    var svg = holder.querySelector("svg");
    if (!svg) {
      return;
    }
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", holder.dataset.label);
    svg.setAttribute("aria-describedby", "diagram-caption diagram-now");
    var step = 60;
    var moves = { ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
    svg.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey) {
        return;  /* the viewer's own bindings */
      }
      if (moves[event.key]) {
        event.preventDefault();
        canvas.scroll({ dx: moves[event.key][0], dy: moves[event.key][1] });
      } else if (event.key === "+" || event.key === "=") {
        event.preventDefault();
        canvas.zoom(canvas.zoom() * 1.25);
      } else if (event.key === "-") {
        event.preventDefault();
        canvas.zoom(canvas.zoom() / 1.25);
      }
    });
  }

  function show(holder) {
    var font = { fontFamily: "Vazirmatn, Tahoma, sans-serif", fontSize: 12, lineHeight: 1.3 };
    var viewer = new window.BpmnJS({ container: holder, textRenderer: { defaultStyle: font, externalStyle: font } });
    /* labels are measured as they are drawn: wait for the page's font */
    var fontsReady = document.fonts && document.fonts.load ? document.fonts.load("12px Vazirmatn") : Promise.resolve();
    var labels = JSON.parse(holder.dataset.lanes || "{}");
    return fontsReady.then(function () {
      return fetch(holder.dataset.src, { credentials: "same-origin", headers: { Accept: "application/xml" } });
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("diagram " + response.status);
        }
        return response.text();
      })
      .then(function (xml) {
        return viewer.importXML(relabelLanes(xml, labels));
      })
      .then(function () {
        var canvas = viewer.get("canvas");
        var registry = viewer.get("elementRegistry");
        var done = words(holder.dataset.done);
        var current = words(holder.dataset.current);
        var messages = words(holder.dataset.messages);
        registry.filter(function (element) { return messages.length && awaits(element, messages); })
          .forEach(function (element) { current.push(element.id); });
        done.forEach(function (id) {
          if (registry.get(id)) { canvas.addMarker(id, "step-done"); }
        });
        current.forEach(function (id) {
          if (registry.get(id)) { canvas.addMarker(id, "step-current"); }
        });
        registry.filter(function (element) { return element.type === "bpmn:SequenceFlow"; })
          .forEach(function (flow) {
            var from = flow.source && flow.source.id;
            var to = flow.target && flow.target.id;
            if (done.indexOf(from) >= 0 && (done.indexOf(to) >= 0 || current.indexOf(to) >= 0)) {
              canvas.addMarker(flow.id, "flow-done");
            }
          });
        var focus = current.map(function (id) { return registry.get(id); }).filter(Boolean)[0];
        var overview = function () {
          canvas.zoom("fit-viewport", "auto");
          /* on a narrow screen the whole process is too small to read: show the current step instead */
          if (focus && holder.clientWidth < 600) {
            var scale = 0.8, width = holder.clientWidth / scale, height = holder.clientHeight / scale;
            canvas.viewbox({ x: focus.x + focus.width / 2 - width / 2, y: focus.y + focus.height / 2 - height / 2,
                             width: width, height: height });
          }
        };
        overview();
        zoomButtons(holder, canvas);
        navigation(holder, canvas);
        if (window.ResizeObserver) {
          var width = holder.clientWidth;
          new window.ResizeObserver(function () {
            if (holder.clientWidth !== width) {
              width = holder.clientWidth;
              canvas.resized();
              overview();
            }
          }).observe(holder);
        }
        holder.dataset.state = "ready";
      });
  }

  function start() {
    var holder = document.getElementById("diagram");
    if (!holder) {
      return;
    }
    if (!window.BpmnJS) {
      holder.dataset.state = "failed";
      holder.textContent = holder.dataset.failed;
      return;
    }
    show(holder).catch(function (error) {
      holder.dataset.state = "failed";
      holder.textContent = holder.dataset.failed;
      if (window.console) { window.console.warn(error); }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
