// The page of `python -m dcgan serve`: its state lives in the URL (?seed=&n=&psi=&a=&b=&steps=), so a
// link reproduces the view. Limits and defaults come from /api/info (dcgan/serve.py holds them).
'use strict';

const GRID_SIZES = [1, 4, 9, 16, 25, 36, 49, 64, 100, 144, 196, 256];
const WALK_STEPS = [8, 16, 24, 32, 48, 64];
const SLOW_MS = 150;         // show the loading look only for responses slower than this
const CACHE_ENTRIES = 24;    // responses kept in memory (prefetched ones included)
const METRICS = {             // name shown, decimals
  swd: ['SWD \u00d710\u00b3', 1], classifier_fd: ['digit FD', 2], classifier_kid: ['digit KID', 4],
  class_entropy: ['class entropy', 3], classes_covered: ['classes covered (of 10)', 0],
};
const $ = (id) => document.getElementById(id);
const state = {};
let limits = {};
let defaults = {};

function randomSeed() {
  return crypto.getRandomValues(new Uint32Array(1))[0] % (limits.seed[1] + 1);
}

function valid(name, text) {
  // The value of `text` for parameter `name`, or null when it is not one the API accepts.
  const [low, high] = limits[name];
  const value = Number(text);
  if (String(text).trim() === '' || !Number.isFinite(value) || value < low || value > high) return null;
  return name === 'psi' || Number.isInteger(value) ? value : null;
}

function readUrl() {
  const query = new URLSearchParams(location.search);
  for (const name of Object.keys(defaults)) {
    const value = query.has(name) ? valid(name, query.get(name)) : null;
    state[name] = value === null ? defaults[name] : value;
  }
}

function writeUrl() {
  const query = new URLSearchParams();
  for (const name of ['seed', 'n', 'psi', 'a', 'b', 'steps']) query.set(name, state[name]);
  history.replaceState(null, '', '?' + query.toString());
}

function gridQuery(seed = state.seed) {
  return `seed=${seed}&n=${state.n}&psi=${state.psi}`;
}

function walkUrl(a = state.a, b = state.b) {
  return `/api/interpolation.gif?a=${a}&b=${b}&steps=${state.steps}&psi=${state.psi}`;
}

const cache = new Map();

function fetchBlob(url) {
  // A promise of the response body; rejected with the API's one-line reason. Recent ones are cached.
  if (cache.has(url)) {
    const found = cache.get(url);
    cache.delete(url);
    cache.set(url, found);
    return found;
  }
  const promise = fetch(url).then(async (response) => {
    if (response.ok) return response.blob();
    let reason = `${response.status} ${response.statusText}`;
    try { reason = (await response.json()).detail || reason; } catch (ignored) { /* not JSON */ }
    throw new Error(reason);
  });
  promise.catch(() => cache.delete(url));
  cache.set(url, promise);
  while (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value);
  return promise;
}

class LiveImage {
  // An <img> that shows the latest URL asked for: while one response is on its way, newer requests
  // replace each other and only the last is fetched next, so dragging a slider never queues up work.
  constructor(img, status) {
    this.img = img;
    this.frame = img.closest('figure');
    this.status = status;
    this.wanted = null;
    this.shown = null;
    this.busy = false;
  }

  show(url) {
    this.wanted = url;
    if (!this.busy && url !== this.shown) this.load(url);
  }

  async load(url) {
    this.busy = true;
    const slow = setTimeout(() => { this.frame.dataset.state = 'loading'; }, SLOW_MS);
    try {
      const blob = await fetchBlob(url);
      const objectUrl = URL.createObjectURL(blob);
      const next = new Image();
      next.src = objectUrl;
      await next.decode();
      const old = this.img.src;
      this.img.src = objectUrl;
      if (old.startsWith('blob:')) URL.revokeObjectURL(old);
      this.img.dataset.url = url;
      this.shown = url;
      this.frame.dataset.state = 'ready';
      this.status.textContent = '';
      this.status.classList.remove('error');
      this.sharpen();
    } catch (error) {
      this.frame.dataset.state = 'error';
      this.status.textContent = error.message;
      this.status.classList.add('error');
    }
    clearTimeout(slow);
    this.busy = false;
    if (this.wanted !== url && this.wanted !== this.shown) this.load(this.wanted);
  }

  sharpen() {
    // Enlarged pixels stay crisp; shrunk grids (many faces) are smoothed instead.
    const enlarged = this.img.naturalWidth <= this.img.clientWidth;
    this.img.classList.toggle('pixelated', enlarged);
  }
}

let gridImage;
let walkImage;
let nextSeed;
let nextPair;

function render() {
  writeUrl();
  $('seed').value = state.seed;
  $('n').value = state.n;
  $('psi').value = state.psi;
  $('psi-value').textContent = Number(state.psi).toFixed(2);
  $('a').value = state.a;
  $('b').value = state.b;
  $('steps').value = state.steps;
  const grid = gridQuery();
  gridImage.show(`/api/grid.png?${grid}`);
  walkImage.show(walkUrl());
  const name = `seed${state.seed}-n${state.n}-psi${state.psi}`;
  $('download-png').href = `/api/grid.png?${grid}`;
  $('download-png').download = `faces-${name}.png`;
  $('download-npy').href = `/api/samples.npy?${grid}`;
  $('download-npy').download = `faces-${name}.npy`;
  $('download-gif').href = walkUrl();
  $('download-gif').download = `walk-${state.a}-${state.b}-steps${state.steps}-psi${state.psi}.gif`;
}

function prefetch() {
  // The next "Random" and "Random pair" answers are fetched ahead, so those buttons answer at once.
  nextSeed = randomSeed();
  nextPair = [randomSeed(), randomSeed()];
  fetchBlob(`/api/grid.png?${gridQuery(nextSeed)}`).catch(() => {});
  fetchBlob(walkUrl(...nextPair)).catch(() => {});
}

function set(changes) {
  Object.assign(state, changes);
  render();
}

function bindNumber(id, name, status) {
  const input = $(id);
  const apply = () => {
    const value = valid(name, input.value);
    input.classList.toggle('invalid', value === null);
    if (value === null) {
      const [low, high] = limits[name];
      status.textContent = `${name} must be an integer from ${low} to ${high}`;
      status.classList.add('error');
      return;
    }
    if (value !== state[name]) set({ [name]: value });
  };
  input.addEventListener('change', apply);
  input.addEventListener('keydown', (event) => { if (event.key === 'Enter') apply(); });
}

function fillSelect(id, values, current) {
  const select = $(id);
  const all = values.includes(current) ? values : [...values, current].sort((x, y) => x - y);
  select.replaceChildren(...all.map((value) => new Option(value, value)));
}

function number(value, digits = 0) {
  if (typeof value !== 'number') return '';
  return Number.isInteger(value) && digits === 0 ? value.toLocaleString('en') : value.toFixed(digits);
}

function showInfo(info) {
  const dataset = info.dataset ? info.dataset.toUpperCase().replace('CELEBA', 'CelebA') : null;
  const size = `${info.config.image_size}\u00d7${info.config.image_size}`;
  const colour = info.config.channels === 1 ? 'grayscale' : 'colour';
  const noun = info.config.channels === 1 ? 'digits' : 'faces';
  document.title = `DCGAN ${noun}: ${info.name}`;
  for (const element of document.querySelectorAll('.noun')) element.textContent = noun;
  for (const element of document.querySelectorAll('.Noun')) element.textContent = noun[0].toUpperCase() + noun.slice(1);
  const trained = dataset ? `trained on ${dataset} for ${number(info.steps)} steps` : `checkpoint at step ${number(info.steps)}`;
  $('model-line').textContent = `${info.name} \u00b7 ${trained} \u00b7 ${size} ${colour}`;
  const facts = [
    ['Data set', dataset || 'not recorded (a training checkpoint)'], ['Training steps', number(info.steps)],
    ['Images', `${size} ${colour}`],
    ['Latent z', `${info.config.z_dim} values, ${info.config.z_distribution}`], ['Source', info.source],
    ['Request batching', info.batching ? 'on' : 'off'],
  ];
  $('info').replaceChildren(...facts.flatMap(([term, value]) => {
    const dt = document.createElement('dt');
    const dd = document.createElement('dd');
    dt.textContent = term;
    dd.textContent = value;
    return [dt, dd];
  }));
  const generated = (info.metrics || {}).generated;
  if (generated) {
    const real = info.metrics.real_vs_real || {};
    const rows = Object.keys(METRICS).filter((key) => key in generated).map((key) => {
      const [label, digits] = METRICS[key];
      const row = document.createElement('tr');
      for (const text of [label, number(generated[key], digits), number(real[key], digits)]) {
        const cell = document.createElement('td');
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    });
    const head = document.createElement('tr');
    for (const text of ['metric', 'generated', 'real images']) {
      const cell = document.createElement('th');
      cell.textContent = text;
      head.append(cell);
    }
    const caption = document.createElement('caption');
    caption.textContent = `${number(info.metrics.samples_scored)} samples scored (lower distance is better)`;
    $('metrics').replaceChildren(caption, head, ...rows);
  } else {
    $('metrics').replaceChildren();
  }
  $('terms').textContent = info.terms || '';
}

async function copyLink() {
  const status = $('share-status');
  try {
    await navigator.clipboard.writeText(location.href);
    status.textContent = 'Link copied';
  } catch (ignored) {
    status.textContent = location.href;
  }
  setTimeout(() => { status.textContent = ''; }, 4000);
}

async function start() {
  let info;
  try {
    const response = await fetch('/api/info');
    info = await response.json();
  } catch (error) {
    $('model-line').textContent = `The generator service does not answer: ${error.message}`;
    return;
  }
  ({ limits, defaults } = info);
  for (const id of ['seed', 'a', 'b']) $(id).max = limits.seed[1];
  readUrl();
  fillSelect('n', GRID_SIZES, state.n);
  fillSelect('steps', WALK_STEPS, state.steps);
  showInfo(info);
  gridImage = new LiveImage($('grid'), $('grid-status'));
  walkImage = new LiveImage($('walk'), $('walk-status'));
  bindNumber('seed', 'seed', $('grid-status'));
  bindNumber('a', 'a', $('walk-status'));
  bindNumber('b', 'b', $('walk-status'));
  $('n').addEventListener('change', () => { set({ n: Number($('n').value) }); prefetch(); });
  $('steps').addEventListener('change', () => { set({ steps: Number($('steps').value) }); prefetch(); });
  $('psi').addEventListener('input', () => set({ psi: Number($('psi').value) }));
  $('psi').addEventListener('change', prefetch);
  $('random').addEventListener('click', () => { set({ seed: nextSeed }); prefetch(); });
  $('random-pair').addEventListener('click', () => { set({ a: nextPair[0], b: nextPair[1] }); prefetch(); });
  $('share').addEventListener('click', copyLink);
  document.addEventListener('keydown', (event) => {
    if (event.key.toLowerCase() === 'r' && !['INPUT', 'SELECT'].includes(event.target.tagName)) $('random').click();
  });
  window.addEventListener('resize', () => { gridImage.sharpen(); walkImage.sharpen(); });
  render();
  prefetch();
}

start();
