// The browser half of speechlib's Recorder widget (notebook 10).
// It records raw samples with the Web Audio API and sends them to the kernel as float32 PCM:
// MediaRecorder would give webm/opus, which Python could only decode with FFmpeg.

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

// Record `seconds` of audio; resolves to {pcm: Float32Array, sampleRate} at the sound card's rate.
async function recordPcm(seconds) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw Object.assign(new Error("navigator.mediaDevices is missing"), { name: "NotFoundError" });
  }
  // Switch off the browser's voice-call processing: the training clips had none.
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
  });
  const context = new AudioContext();
  try {
    const url = URL.createObjectURL(new Blob([CAPTURE_WORKLET], { type: "text/javascript" }));
    await context.audioWorklet.addModule(url);
    URL.revokeObjectURL(url);
    await context.resume();
    const source = context.createMediaStreamSource(stream);
    const capture = new AudioWorkletNode(context, "speechlib-capture");
    const wanted = Math.round(seconds * context.sampleRate);
    const chunks = [];
    let total = 0;
    await new Promise((resolve) => {
      capture.port.onmessage = (event) => {
        chunks.push(event.data);
        total += event.data.length;
        if (total >= wanted) resolve();
      };
      source.connect(capture);
      capture.connect(context.destination);  // outputs silence; connected so the graph runs it
    });
    source.disconnect();
    const pcm = new Float32Array(total);
    let offset = 0;
    for (const chunk of chunks) {
      pcm.set(chunk, offset);
      offset += chunk.length;
    }
    return { pcm: pcm.slice(0, wanted), sampleRate: context.sampleRate };
  } finally {
    stream.getTracks().forEach((track) => track.stop());
    await context.close();
  }
}

function blobUrl(dataView, type) {
  return URL.createObjectURL(new Blob([dataView], { type }));
}

function render({ model, el }) {
  el.classList.add("speechlib-recorder");
  el.innerHTML = `
    <button class="speechlib-record" type="button"></button>
    <div class="speechlib-status" role="status"></div>
    <label class="speechlib-upload">Or classify a file: <input type="file" accept=".wav,.flac,.ogg,audio/*"></label>
    <ol class="speechlib-top3"></ol>
    <audio class="speechlib-playback" controls hidden></audio>
    <img class="speechlib-plot" alt="waveform and mel spectrogram of the clip the model heard" hidden>`;
  const button = el.querySelector(".speechlib-record");
  const upload = el.querySelector("input[type=file]");
  const status = el.querySelector(".speechlib-status");
  const top3 = el.querySelector(".speechlib-top3");
  const audio = el.querySelector(".speechlib-playback");
  const plot = el.querySelector(".speechlib-plot");
  const urls = {};
  const idleLabel = () => `Record ${model.get("seconds")} s`;
  button.textContent = idleLabel();

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
  function showError(message) {
    model.set("top3", []);
    model.set("error", message);
    model.save_changes();
  }

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

  model.on("change:status", showStatus);
  model.on("change:error", () => { showStatus(); showClip(); });  // an error hides the last clip
  model.on("change:top3", showTop3);
  model.on("change:audio", () => showMedia("audio", audio, "audio/wav"));
  model.on("change:image", () => showMedia("image", plot, "image/png"));
  showStatus();
  showTop3();
  showClip();
  return () => Object.values(urls).forEach((url) => URL.revokeObjectURL(url));
}

export default { render };
