// The image viewer on NiiVue: a series' volume (NIfTI from the API) in axial, coronal, sagittal
// or all three planes, window/level presets, scroll, zoom, and one derived image of a job as an
// overlay with its opacity. Keyboard: 1/2/3/4 planes, ↑/↓ or PageUp/PageDown scroll, +/− zoom,
// W next window preset, O toggles the overlay.

import { Niivue } from '@niivue/niivue'
import { h } from './dom.js'

/// Window presets as [low, high] in the image's units (HU for CT, SUVbw for PET); `auto` is
/// NiiVue's robust range of the image itself (right for MR, whose units are arbitrary).
export const PRESETS = {
  auto: null,
  brain: [0, 80], // W 80 L 40 HU
  lung: [-1350, 150], // W 1500 L −600 HU
  bone: [-450, 1050], // W 1500 L 300 HU
  'pet-suv': [0, 6], // SUVbw 0–6
}

/// Label images (drawn in colour over the image, 0 transparent) as opposed to intensity images.
export function isLabel (role) {
  return /(^|-)(mask|icv|labels|lesions|change|remote)$|^enhanced-/.test(role)
}

export class Viewer {
  constructor ({ volumeUrl, modality, units }) {
    this.volumeUrl = volumeUrl
    this.overlay = null
    this.opacity = 0.5
    this.preset = modality === 'PT' && units === 'SUVbw' ? 'pet-suv' : modality === 'CT' ? 'brain' : 'auto'
    this.canvas = h('canvas', { class: 'nv', tabindex: 0, 'aria-label': 'image viewer: 1 2 3 4 planes, arrows scroll, + − zoom, W window, O overlay' })
    this.zoom = 1
    this.status = h('div', { class: 'viewer-status', 'aria-live': 'polite' })
    this.info = h('div', { class: 'viewer-info' })
    this.el = h('div', { class: 'viewer' }, this.canvas, this.info, this.status)
    this.canvas.addEventListener('keydown', e => this.key(e))
  }

  async start () {
    this.nv = new Niivue({ backColor: [0, 0, 0, 1], show3Dcrosshair: false, crosshairColor: [0.25, 0.75, 1, 0.8], isResizeCanvas: true, loadingText: 'loading…', logLevel: 'error' })
    await this.nv.attachToCanvas(this.canvas)
    this.nv.setSliceType(this.nv.sliceTypeAxial)
    await this.load()
  }

  async load () {
    const list = [{ url: this.volumeUrl, name: 'series.nii.gz', colormap: 'gray' }]
    if (this.overlay) {
      const label = isLabel(this.overlay.role)
      list.push({ url: this.overlay.url, name: `${this.overlay.role}.nii.gz`, colormap: label ? 'red' : 'warm', opacity: this.opacity })
    }
    this.status.textContent = 'loading…'
    await this.nv.loadVolumes(list)
    if (this.overlay && this.nv.volumes[1]) {
      const o = this.nv.volumes[1]
      if (isLabel(this.overlay.role)) {
        o.cal_min = 0.5
        o.cal_max = Math.max(1, o.global_max || 1)
      }
    }
    this.applyPreset()
    this.status.textContent = ''
    this.el.dataset.loaded = this.overlay ? `overlay:${this.overlay.role}` : 'image'
  }

  applyPreset () {
    const v = this.nv.volumes[0]
    if (!v) return
    const p = PRESETS[this.preset]
    if (p) {
      v.cal_min = p[0]
      v.cal_max = p[1]
    } else {
      v.cal_min = v.robust_min ?? v.global_min
      v.cal_max = v.robust_max ?? v.global_max
    }
    this.nv.updateGLVolume()
  }

  setPreset (name) {
    this.preset = name
    this.applyPreset()
  }

  async setOverlay (overlay) {
    this.overlay = overlay
    await this.load()
  }

  setOpacity (x) {
    this.opacity = x
    if (this.nv.volumes[1]) this.nv.setOpacity(1, x)
  }

  setPlane (name) {
    const t = { axial: this.nv.sliceTypeAxial, coronal: this.nv.sliceTypeCoronal, sagittal: this.nv.sliceTypeSagittal, multiplanar: this.nv.sliceTypeMultiplanar }[name]
    this.nv.setSliceType(t)
  }

  scroll (n) {
    const t = this.nv.opts.sliceType
    if (t === this.nv.sliceTypeCoronal) this.nv.moveCrosshairInVox(0, n, 0)
    else if (t === this.nv.sliceTypeSagittal) this.nv.moveCrosshairInVox(n, 0, 0)
    else this.nv.moveCrosshairInVox(0, 0, n)
  }

  setZoom (z) {
    this.zoom = Math.min(8, Math.max(0.5, z))
    this.nv.setPan2Dxyzmm([0, 0, 0, this.zoom])
  }

  key (e) {
    const planes = { 1: 'axial', 2: 'coronal', 3: 'sagittal', 4: 'multiplanar' }
    const presets = Object.keys(PRESETS)
    if (planes[e.key]) this.setPlane(planes[e.key])
    else if (e.key === 'ArrowUp' || e.key === 'PageUp') this.scroll(1)
    else if (e.key === 'ArrowDown' || e.key === 'PageDown') this.scroll(-1)
    else if (e.key === '+' || e.key === '=') this.setZoom(this.zoom * 1.25)
    else if (e.key === '-') this.setZoom(this.zoom / 1.25)
    else if (e.key === 'w' || e.key === 'W') {
      this.setPreset(presets[(presets.indexOf(this.preset) + 1) % presets.length])
      this.el.dispatchEvent(new CustomEvent('preset', { detail: this.preset }))
    } else if ((e.key === 'o' || e.key === 'O') && this.nv.volumes[1]) {
      this.setOpacity(this.opacity > 0 ? 0 : 0.5)
    } else return
    e.preventDefault()
  }

  /// Calls `cb(mm)` with each point the user clicks (patient space as NiiVue has it: the NIfTI's
  /// RAS millimetres).
  onPoint (cb) {
    // Only the user's clicks: not the crosshair moved by the keyboard or by goTo.
    this.canvas.addEventListener('pointerdown', () => { this.pressed = Date.now() })
    this.nv.onLocationChange = data => {
      if (this.moving || !(Date.now() - (this.pressed || 0) < 1500)) return
      if (data && data.mm) cb([data.mm[0], data.mm[1], data.mm[2]])
    }
  }

  /// Moves the crosshair (and the slices shown) to a point in RAS millimetres.
  goTo (ras) {
    this.moving = true
    try {
      this.nv.scene.crosshairPos = this.nv.mm2frac(ras)
      this.nv.drawScene()
    } finally {
      this.moving = false
    }
  }

  /// Measurements shown on the image (the overlay's job's values).
  showInfo (lines) {
    this.info.replaceChildren(...lines.map(l => h('div', {}, l)))
  }
}
