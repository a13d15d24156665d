// The browser half of speechlib's Recorder widget (notebooks 10 and 11).
// It records raw samples with the Web Audio API and sends them to the kernel as float32 PCM:
// MediaRecorder would give webm/opus, which Python could only decode with FFmpeg.
// Record mode sends one recording; Listen mode streams ~0.1 s chunks until Stop and draws what comes back;
// Teach mode sends takes of a new word (each shown with a player and a button to record it again), then Enrol.

const DENIED = "Microphone access was denied: allow it in the browser's site settings, or classify a WAV file below.";
const ABSENT = "No microphone found: plug one in and reload the page, or classify a WAV file below. " +
  "(Browsers offer the microphone only on https:// or http://localhost pages.)";

// An AudioWorklet runs on the audio thread and hands us each block of 128 input samples.
const CAPTURE_WORKLET = `
class SpeechlibCapture extends AudioWorkletProcessor {
  process(inputs) {
    const channel = inputs[0][0];  // first input, first channel (mono is all the model needs)
    if (channel) this.port.postMessage(channel.slice(0));
    return true;
  }
}
registerProcessor("speechlib-capture", SpeechlibCapture);
`;

function microphoneMessage(error) {
  if (error.name === "NotAllowedError" || error.name === "SecurityError") return DENIED;
  if (error.name === "NotFoundError" || error.name === "OverconstrainedError" || error.name === "NotReadableError") return ABSENT;
  return `Could not record: ${error.name}: ${error.message}`;
}

// The microphone through an AudioWorklet: {stream, context, source, capture}; capture.port gets each block.
async function openMicrophone() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw Object.assign(new Error("navigator.mediaDevices is missing"), { name: "NotFoundError" });
  }
  // Switch off the browser's voice-call processing: the training clips had none.
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
  });
  const context = new AudioContext();
  const microphone = { stream, context, source: null, capture: null };
  try {
    const url = URL.createObjectURL(new Blob([CAPTURE_WORKLET], { type: "text/javascript" }));
    await context.audioWorklet.addModule(url);
    URL.revokeObjectURL(url);
    await context.resume();
    microphone.source = context.createMediaStreamSource(stream);
    microphone.capture = new AudioWorkletNode(context, "speechlib-capture");
    return microphone;
  } catch (error) {
    await closeMicrophone(microphone);
    throw error;
  }
}

function startCapture(microphone, onBlock) {
  microphone.capture.port.onmessage = (event) => onBlock(event.data);
  microphone.source.connect(microphone.capture);
  microphone.capture.connect(microphone.context.destination);  // outputs silence; connected so the graph runs it
}

// Stop everything: no block arrives after this, the microphone's light goes off, the audio thread ends.
async function closeMicrophone(microphone) {
  if (microphone.capture) microphone.capture.port.onmessage = null;
  if (microphone.source) microphone.source.disconnect();
  microphone.stream.getTracks().forEach((track) => track.stop());
  if (microphone.context.state !== "closed") await microphone.context.close();
}

function concatenate(chunks, total) {
  const pcm = new Float32Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    pcm.set(chunk, offset);
    offset += chunk.length;
  }
  return pcm;
}

// Record `seconds` of audio; resolves to {pcm: Float32Array, sampleRate} at the sound card's rate.
async function recordPcm(seconds) {
  const microphone = await openMicrophone();
  try {
    const wanted = Math.round(seconds * microphone.context.sampleRate);
    const chunks = [];
    let total = 0;
    await new Promise((resolve) => {
      startCapture(microphone, (block) => {
        chunks.push(block);
        total += block.length;
        if (total >= wanted) resolve();
      });
    });
    return { pcm: concatenate(chunks, total).slice(0, wanted), sampleRate: microphone.context.sampleRate };
  } finally {
    await closeMicrophone(microphone);
  }
}

const CHUNK_SECONDS = 0.1;  // Listen mode sends the kernel this much sound at a time
// matplotlib's tab10: a word keeps the colour it first got, so a curve does not change colour when words swap ranks
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

// Listen mode's picture: each word's averaged probability over the last seconds, the threshold dashed.
function drawCurves(canvas, curves, detections, colours) {
  const context = canvas.getContext("2d");
  const { width, height } = canvas;
  const left = 34, right = 70, top = 8, bottom = 22;
  const plotWidth = width - left - right, plotHeight = height - top - bottom;
  context.clearRect(0, 0, width, height);
  context.font = "11px sans-serif";
  context.fillStyle = "#555";
  context.strokeStyle = "#bbb";
  context.lineWidth = 1;
  context.strokeRect(left, top, plotWidth, plotHeight);
  for (const p of [0, 0.5, 1]) context.fillText(p.toFixed(1), 4, top + (1 - p) * plotHeight + 4);
  const times = (curves && curves.times) || [];
  const seconds = (curves && curves.seconds) || 5;
  const now = times.length ? times[times.length - 1] : seconds;
  const x = (time) => left + ((time - (now - seconds)) / seconds) * plotWidth;
  const y = (p) => top + (1 - p) * plotHeight;
  context.fillText(`${Math.max(0, now - seconds).toFixed(1)} s`, left, height - 6);
  context.fillText(`${now.toFixed(1)} s`, left + plotWidth - 30, height - 6);
  if (curves && curves.threshold !== undefined) {
    context.setLineDash([4, 4]);
    context.beginPath();
    context.moveTo(left, y(curves.threshold));
    context.lineTo(left + plotWidth, y(curves.threshold));
    context.stroke();
    context.setLineDash([]);
  }
  for (const { word, time } of detections) {  // a mark where each word was reported
    if (time < now - seconds) continue;
    context.strokeStyle = "#999";
    context.beginPath();
    context.moveTo(x(time), top);
    context.lineTo(x(time), top + plotHeight);
    context.stroke();
    context.fillStyle = "#333";
    context.fillText(word, x(time) + 2, top + 10);
  }
  ((curves && curves.words) || []).forEach(({ word, values }, index) => {
    if (!colours.has(word)) colours.set(word, COLOURS[colours.size % COLOURS.length]);
    const colour = colours.get(word);
    context.strokeStyle = colour;
    context.lineWidth = 2;
    context.beginPath();
    values.forEach((p, i) => (i ? context.lineTo(x(times[i]), y(p)) : context.moveTo(x(times[i]), y(p))));
    context.stroke();
    context.fillStyle = colour;
    context.fillText(`${word} ${Math.round(100 * values[values.length - 1])}%`, left + plotWidth + 4, top + 12 + 14 * index);
  });
  context.lineWidth = 1;
}

function blobUrl(dataView, type) {
  return URL.createObjectURL(new Blob([dataView], { type }));
}

const MODE_NAMES = { record: "Record", listen: "Listen", teach: "Teach" };

function render({ model, el }) {
  el.classList.add("speechlib-recorder");
  el.innerHTML = `
    <div class="speechlib-modes" role="tablist">${Object.entries(MODE_NAMES).map(([mode, name]) =>
      `<button type="button" role="tab" data-mode="${mode}">${name}</button>`).join("")}</div>
    <div class="speechlib-pane" data-pane="record">
      <button class="speechlib-record" type="button"></button>
      <label class="speechlib-upload">Or classify a file: <input type="file" accept=".wav,.flac,.ogg,audio/*"></label>
    </div>
    <div class="speechlib-pane" data-pane="listen">
      <button class="speechlib-listen" type="button">Listen</button>
    </div>
    <div class="speechlib-pane" data-pane="teach">
      <label class="speechlib-word-label">New word: <input class="speechlib-word" type="text"
        placeholder="e.g. banana" autocomplete="off" spellcheck="false"></label>
      <button class="speechlib-take" type="button"></button>
      <button class="speechlib-enrol" type="button">Enrol</button>
    </div>
    <div class="speechlib-status" role="status"></div>
    <div class="speechlib-pane" data-pane="record">
      <ol class="speechlib-top3"></ol>
      <audio class="speechlib-playback" controls hidden></audio>
      <img class="speechlib-plot" alt="waveform and mel spectrogram of the clip the model heard" hidden>
    </div>
    <div class="speechlib-pane" data-pane="listen">
      <canvas class="speechlib-curves" width="640" height="180"
        aria-label="each word's averaged probability over the last seconds"></canvas>
      <ol class="speechlib-heard" aria-label="words heard"></ol>
    </div>
    <div class="speechlib-pane" data-pane="teach">
      <ol class="speechlib-takes" aria-label="takes of the new word"></ol>
      <div class="speechlib-known"></div>
    </div>`;
  const button = el.querySelector(".speechlib-record");
  const upload = el.querySelector("input[type=file]");
  const status = el.querySelector(".speechlib-status");
  const top3 = el.querySelector(".speechlib-top3");
  const audio = el.querySelector(".speechlib-playback");
  const plot = el.querySelector(".speechlib-plot");
  const listenButton = el.querySelector(".speechlib-listen");
  const canvas = el.querySelector(".speechlib-curves");
  const heard = el.querySelector(".speechlib-heard");
  const wordInput = el.querySelector(".speechlib-word");
  const takeButton = el.querySelector(".speechlib-take");
  const enrolButton = el.querySelector(".speechlib-enrol");
  const takesList = el.querySelector(".speechlib-takes");
  const known = el.querySelector(".speechlib-known");
  const takeUrls = [];  // the takes' players' blob URLs
  let busy = false;  // Teach mode: recording a take, or the kernel enrolling
  const urls = {};
  const idleLabel = () => `Record ${model.get("seconds")} s`;
  button.textContent = idleLabel();
  let microphone = null;  // Listen mode's open microphone, while streaming
  const colours = new Map();  // word -> its curve's colour

  function showMode() {
    const mode = model.get("mode");
    el.querySelectorAll("[data-mode]").forEach((tab) => tab.setAttribute("aria-selected", String(tab.dataset.mode === mode)));
    el.querySelectorAll("[data-pane]").forEach((pane) => { pane.hidden = pane.dataset.pane !== mode; });
    if (mode !== "listen" && microphone) stopListening();
  }
  function showStatus() {
    const error = model.get("error");
    status.textContent = error || model.get("status");
    status.classList.toggle("speechlib-error", Boolean(error));
  }
  function showClip() {
    showMedia("audio", audio, "audio/wav");
    showMedia("image", plot, "image/png");
  }
  function showTop3() {
    top3.replaceChildren(...model.get("top3").map(({ word, probability }) => {
      const item = document.createElement("li");
      item.textContent = `${word} ${(100 * probability).toFixed(1)}%`;
      return item;
    }));
  }
  function showMedia(name, element, type) {
    const bytes = model.get(name);
    if (urls[name]) URL.revokeObjectURL(urls[name]);
    element.hidden = !bytes || bytes.byteLength === 0 || Boolean(model.get("error"));
    if (!element.hidden) element.src = urls[name] = blobUrl(bytes, type);
  }
  function showHeard() {
    heard.replaceChildren(...model.get("detections").map(({ word, time, probability }) => {
      const item = document.createElement("li");
      item.dataset.word = word;
      item.textContent = `${time.toFixed(2)} s  ${word}  ${(100 * probability).toFixed(0)}%`;
      return item;
    }));
  }
  function showCurves() {
    drawCurves(canvas, model.get("curves"), model.get("detections"), colours);
  }
  function showTakes() {
    takeUrls.splice(0).forEach((url) => URL.revokeObjectURL(url));
    const takes = model.get("takes");
    takesList.replaceChildren(...takes.map(({ index, seconds, loudness, audio: wav }) => {
      const item = document.createElement("li");
      item.dataset.index = String(index);
      const text = document.createElement("span");
      text.textContent = `Take ${index + 1}: ${seconds.toFixed(2)} s, ${Math.round(loudness)} dB `;
      const player = document.createElement("audio");
      player.controls = true;
      player.className = "speechlib-take-playback";
      const url = blobUrl(wav, "audio/wav");
      takeUrls.push(url);
      player.src = url;
      const again = document.createElement("button");
      again.type = "button";
      again.className = "speechlib-rerecord";
      again.textContent = "Record again";
      again.addEventListener("click", () => recordTake(index, again));
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "speechlib-delete-take";
      remove.textContent = "Delete";
      remove.addEventListener("click", () => model.send({ type: "delete_take", index }));
      item.append(text, player, again, remove);
      return item;
    }));
    showTeachButtons();
  }
  function showTeachButtons() {
    const count = model.get("takes").length, wanted = model.get("num_takes");
    takeButton.textContent = count < wanted ? `Record take ${count + 1} of ${wanted}` : `${count} takes recorded`;
    takeButton.disabled = busy || count >= wanted;
    enrolButton.disabled = busy || count === 0;
    takesList.querySelectorAll("button").forEach((button) => { button.disabled = busy; });
  }
  function showKnown() {
    known.textContent = `It knows ${model.get("known_words").length} words: ${model.get("known_words").join(", ")}`;
  }
  function setBusy(value) {
    busy = value;
    showTeachButtons();
  }
  async function recordTake(index, trigger) {
    setBusy(true);
    const label = trigger.textContent;
    trigger.textContent = "Recording... speak now";
    try {
      const { pcm, sampleRate } = await recordPcm(model.get("seconds"));
      model.send({ type: "take", index, sample_rate: sampleRate }, undefined, [pcm.buffer]);
    } catch (error) {
      showError(microphoneMessage(error));
    } finally {
      trigger.textContent = label;
      setBusy(false);
    }
  }

  function showError(message) {
    model.set("top3", []);
    model.set("error", message);
    model.save_changes();
  }

  async function startListening() {
    listenButton.disabled = true;
    try {
      microphone = await openMicrophone();
      const rate = microphone.context.sampleRate;
      const wanted = Math.round(CHUNK_SECONDS * rate);
      let blocks = [], total = 0;
      model.send({ type: "listen_start", sample_rate: rate });
      startCapture(microphone, (block) => {
        blocks.push(block);
        total += block.length;
        if (total < wanted) return;
        const pcm = concatenate(blocks, total);
        blocks = [];
        total = 0;
        model.send({ type: "chunk" }, undefined, [pcm.buffer]);
      });
      el.dataset.microphone = "on";
      listenButton.textContent = "Stop";
    } catch (error) {
      microphone = null;
      showError(microphoneMessage(error));
    } finally {
      listenButton.disabled = false;
    }
  }
  async function stopListening() {
    const open = microphone;
    microphone = null;
    listenButton.textContent = "Listen";
    if (!open) return;
    listenButton.disabled = true;
    try {
      await closeMicrophone(open);
    } finally {
      el.dataset.microphone = "off";
      listenButton.disabled = false;
      model.send({ type: "listen_stop" });
    }
  }

  el.querySelectorAll("[data-mode]").forEach((tab) => tab.addEventListener("click", () => {
    model.set("mode", tab.dataset.mode);
    model.save_changes();
  }));
  button.addEventListener("click", async () => {
    button.disabled = true;
    button.textContent = "Recording... speak now";
    try {
      const { pcm, sampleRate } = await recordPcm(model.get("seconds"));
      model.send({ type: "recording", sample_rate: sampleRate }, undefined, [pcm.buffer]);
    } catch (error) {
      showError(microphoneMessage(error));
    } finally {
      button.disabled = false;
      button.textContent = idleLabel();
    }
  });
  upload.addEventListener("change", async () => {
    const file = upload.files[0];
    if (!file) return;
    model.send({ type: "file", name: file.name }, undefined, [await file.arrayBuffer()]);
    upload.value = "";  // choosing the same file again fires "change" again
  });
  listenButton.addEventListener("click", () => (microphone ? stopListening() : startListening()));
  wordInput.addEventListener("input", () => {
    model.set("word", wordInput.value);
    model.save_changes();
  });
  takeButton.addEventListener("click", () => recordTake(model.get("takes").length, takeButton));
  enrolButton.addEventListener("click", () => {
    setBusy(true);  // until the kernel answers: a new status, an error, or new words
    model.send({ type: "enrol", word: wordInput.value });
  });

  model.on("msg:custom", (message) => {
    if (message.type === "stop") stopListening();  // the kernel failed: stop sending it sound
  });
  model.on("change:mode", showMode);
  model.on("change:status", showStatus);
  model.on("change:error", () => { showStatus(); showClip(); });  // an error hides the last clip
  model.on("change:top3", showTop3);
  model.on("change:audio", () => showMedia("audio", audio, "audio/wav"));
  model.on("change:image", () => showMedia("image", plot, "image/png"));
  model.on("change:detections", () => { showHeard(); showCurves(); });
  model.on("change:curves", showCurves);
  model.on("change:takes", showTakes);
  model.on("change:num_takes", showTeachButtons);
  model.on("change:known_words", () => { showKnown(); setBusy(false); });
  model.on("change:error", () => { if (model.get("error")) setBusy(false); });
  model.on("change:word", () => { if (wordInput.value !== model.get("word")) wordInput.value = model.get("word"); });
  showMode();
  showStatus();
  showTop3();
  showClip();
  showHeard();
  showCurves();
  wordInput.value = model.get("word");
  showTakes();
  showKnown();
  return () => {  // the view is removed (cell cleared or re-run): let go of the microphone
    if (microphone) stopListening();
    Object.values(urls).forEach((url) => URL.revokeObjectURL(url));
    takeUrls.forEach((url) => URL.revokeObjectURL(url));
  };
}

export default { render };
