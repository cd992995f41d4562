"""StereoAdapter: a LoRA-adapted ViT prior, a mono disparity head and RAFT-Stereo-style recurrent refinement.

Pipeline (paper: arXiv 2509.16415; RAFT-Stereo: arXiv 2109.07547), all on the left camera's grid:
  1. both images -> ViTEncoder -> features at 1/4, 1/8, 1/16 (shared weights);
  2. mono head on the left 1/8 features: softmax over `mono_bins` disparity bins -> expected disparity, to 1/4;
  3. 1-D all-pairs correlation of the left/right 1/4 features, pooled into a `corr_levels` pyramid along the right
     image's x, looked up within `corr_radius` around x - d;
  4. a 3-level ConvGRU (1/4, 1/8, 1/16; context from the left features) refines d, starting from the mono disparity
     (the paper) or, with refine_from='matching', from the winner-take-all match over the correlation volumes (as
     IGEV-Stereo, arXiv 2303.06615, starts from its cost volume); only horizontal disparity exists here (the paper
     zeroes vertical flow, we never model it);
  5. convex 3x3 upsampling x4 of each estimate to input resolution.
Deviations from the paper: the encoder is small and trained here (no Depth-Anything weights can be downloaded), its
patch embedding is a conv stem (DPT-hybrid style), and a confidence head predicts P(|error| < 2 px).
"""

import math

import torch
import torch.nn.functional as F  # noqa: N812 (the torch convention)
from torch import Tensor, nn

from groundfm.depth.config import StereoAdapterConfig
from groundfm.depth.lora import DynamicLoRALinear, lora_layers
from groundfm.depth.vit import ViTEncoder, conv_block

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DOWNSAMPLE = 4  # refinement grid = input / 4
PAD_MULTIPLE = 16  # the encoder's token size


class CorrPyramid:
    """1-D all-pairs correlation of left/right features and its x-pooled pyramid; lookup around x - d."""

    def __init__(self, left: Tensor, right: Tensor, levels: int, radius: int, scale: float | None = None) -> None:
        """left, right: (b, c, h, w) feature maps on the same grid; dot products times scale (1 / sqrt(c))."""
        if left.shape != right.shape:
            raise ValueError(f'left {tuple(left.shape)} != right {tuple(right.shape)}')
        b, c, h, w = left.shape
        scale = 1 / math.sqrt(c) if scale is None else scale
        corr = torch.einsum('bchx,bchy->bhxy', left, right) * scale  # b h w(left) w(right)
        corr = corr.reshape(b * h * w, 1, w)
        self.shape, self.radius = (b, h, w), radius
        self.volume = corr  # (b h w, 1, w): level 0, kept for the training loss on matching
        self.pyramid = [corr]
        for _ in range(levels - 1):
            corr = F.avg_pool1d(corr, 2, 2) if corr.shape[-1] >= 2 else corr
            self.pyramid.append(corr)

    def __call__(self, disparity: Tensor) -> Tensor:
        """disparity (b, 1, h, w) [feature px] -> correlation samples (b, levels * (2r + 1), h, w)."""
        b, h, w = self.shape
        r = self.radius
        x = torch.arange(w, device=disparity.device, dtype=disparity.dtype).view(1, 1, 1, w)
        target = (x - disparity).permute(0, 2, 3, 1).reshape(b * h * w, 1)  # right-image x of each left pixel
        offsets = torch.arange(-r, r + 1, device=disparity.device, dtype=disparity.dtype).view(1, -1)
        samples = []
        for level, corr in enumerate(self.pyramid):
            samples.append(_linear_sample(corr[:, 0], target / 2**level + offsets))  # (bhw, 2r+1)
        out = torch.cat(samples, dim=1)  # bhw, L(2r+1)
        return out.view(b, h, w, -1).permute(0, 3, 1, 2).contiguous()


def _linear_sample(values: Tensor, coords: Tensor) -> Tensor:
    """Sample rows of values (n, w) at fractional x coords (n, k) with linear interpolation; 0 outside [0, w-1]."""
    w = values.shape[1]
    x0 = torch.floor(coords)
    frac = (coords - x0).to(values.dtype)  # samples come out in the volume's dtype (bf16 under autocast)
    x0 = x0.long()
    out = 0
    for xi, weight in ((x0, 1 - frac), (x0 + 1, frac)):
        inside = (xi >= 0) & (xi <= w - 1)
        gathered = torch.gather(values, 1, xi.clamp(0, w - 1))
        out = out + gathered * weight * inside
    return out


def zncc_descriptors(images: Tensor, window: int, sigma: float) -> Tensor:
    """RGB (n, 3, h, w) in [0, 255], h and w multiples of 4 -> (n, (window/2)^2, h/4, w/4) ZNCC descriptors.

    The grey image is blurred by sigma and halved; the window x window [input px] patch around each 1/4-grid cell,
    sampled every 2 px, is flattened, its mean removed and its norm set to 1, so the dot product of a left and a
    right descriptor is their ZNCC: invariant to gain and offset, learned from no data. (Damping low-contrast
    windows towards 0 made the winner-take-all match on the validation sets worse, so there is none.) They are
    computed in fp32 under autocast too (bf16's 1-grey-level steps would swamp low-contrast windows); the cost volume
    built from them then follows the caller's precision.
    """
    if window < 8 or window % 4:
        raise ValueError(f'window must be a multiple of 4 >= 8, got {window}')
    with torch.autocast(images.device.type, enabled=False):  # descriptors in fp32 even under bf16: low contrast
        luma = torch.tensor((0.299, 0.587, 0.114), device=images.device).view(1, 3, 1, 1)
        grey = (images.float() * luma).sum(dim=1, keepdim=True)
        if sigma > 0:
            radius = max(1, math.ceil(3 * sigma))
            x = torch.arange(-radius, radius + 1, device=images.device, dtype=torch.float32)
            kernel = torch.exp(-0.5 * (x / sigma) ** 2)
            kernel = kernel / kernel.sum()
            grey = F.pad(grey, (radius, radius, radius, radius), mode='replicate')
            grey = F.conv2d(F.conv2d(grey, kernel.view(1, 1, 1, -1)), kernel.view(1, 1, -1, 1))
        half = F.avg_pool2d(grey, 2)
        n, _, h, w = half.shape
        side = window // 2
        pad = (side - 2) // 2
        half = F.pad(half, (pad, pad, pad, pad), mode='replicate')  # zeros would not be gain and offset invariant
        patches = F.unfold(half, side, stride=2).view(n, side * side, h // 2, w // 2)
        patches = patches - patches.mean(dim=1, keepdim=True)
        return patches / (patches.norm(dim=1, keepdim=True) + 1e-2)


def best_match(volumes: list[Tensor], max_disparity: float, sub_pixel: bool = True) -> Tensor:
    """Winner-take-all disparity (b, 1, h, w) [feature px] over the sum of correlation volumes (b, h, w left, w right).

    Each volume is divided by its standard deviation per image first, so learned dot products and ZNCC scores count
    alike; only right pixels 0..max_disparity [feature px] left of the left pixel compete; with sub_pixel a parabola
    through the best score and its two neighbours gives the sub-pixel offset. Not differentiable (a start for
    refinement, or a diagnosis of the matching costs alone).
    """
    b, h, w, _ = volumes[0].shape
    total = 0
    for volume in volumes:
        scores = volume.detach().float().reshape(b, h * w * w)
        total = total + scores / (scores.std(dim=1, keepdim=True) + 1e-6)
    total = total.view(b, h, w, w)
    x = torch.arange(w, device=total.device)
    gap = x.view(w, 1) - x.view(1, w)  # disparity of each (left x, right x) [feature px]
    total = total.masked_fill(~((gap >= 0) & (gap <= max_disparity)), float('-inf'))
    best = total.argmax(dim=-1, keepdim=True)  # right x
    offset = torch.zeros_like(best, dtype=total.dtype)
    if sub_pixel:
        inner = best.clamp(1, w - 2)
        below, peak, above = (total.gather(-1, inner + k) for k in (-1, 0, 1))
        curvature = below - 2 * peak + above
        fit = (best == inner) & torch.isfinite(below) & torch.isfinite(above) & (curvature < 0)
        offset = torch.where(fit, 0.5 * (below - above) / torch.where(fit, curvature, -1.0), 0.0).clamp(-0.5, 0.5)
    disparity = x.view(1, 1, w, 1) - (best + offset)  # b h w 1
    return disparity.permute(0, 3, 1, 2).contiguous()


def convex_upsample(disparity: Tensor, mask: Tensor, factor: int) -> Tensor:
    """Convex combination of 3x3 neighbours: disparity (b, 1, h, w), mask (b, 9 f^2, h, w) -> (b, 1, f h, f w)."""
    b, _, h, w = disparity.shape
    mask = torch.softmax(mask.view(b, 1, 9, factor, factor, h, w), dim=2)
    patches = F.unfold(factor * disparity, 3, padding=1).view(b, 1, 9, 1, 1, h, w)
    up = (mask * patches).sum(dim=2)  # b 1 f f h w
    return up.permute(0, 1, 4, 2, 5, 3).reshape(b, 1, factor * h, factor * w)


class ConvGRU(nn.Module):
    """ConvGRU with context injection: h' = (1 - z) h + z tanh(W_q [r h, x] + c_q)."""

    def __init__(self, hidden: int, inp: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.convzr = nn.Conv2d(hidden + inp, 2 * hidden, 3, padding=1)
        self.convq = nn.Conv2d(hidden + inp, hidden, 3, padding=1)

    def forward(self, h: Tensor, ctx: tuple[Tensor, Tensor, Tensor], *inputs: Tensor) -> Tensor:
        """h (b, hidden, h, w); ctx = (cz, cr, cq) each (b, hidden, h, w); inputs concatenate to (b, inp, h, w)."""
        x = torch.cat(inputs, dim=1)
        zr = self.convzr(torch.cat([h, x], dim=1))
        z = torch.sigmoid(zr[:, : self.hidden] + ctx[0])
        r = torch.sigmoid(zr[:, self.hidden:] + ctx[1])
        q = torch.tanh(self.convq(torch.cat([r * h, x], dim=1)) + ctx[2])
        return (1 - z) * h + z * q


class MotionEncoder(nn.Module):
    """Correlation samples + current disparity -> motion features (the last channel is the disparity itself).

    With zncc_channels, ZNCC samples enter through their own 1x1 conv (no bias), added to the learned correlation's
    before its ReLU: the same as one conv over both, but a checkpoint without it loads with that conv at zero.
    """

    def __init__(self, corr_channels: int, out: int, zncc_channels: int = 0) -> None:
        super().__init__()
        self.corr = nn.Sequential(nn.Conv2d(corr_channels, 64, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(64, 48, 3, padding=1), nn.ReLU(inplace=True))
        self.zncc = nn.Conv2d(zncc_channels, 64, 1, bias=False) if zncc_channels else None
        self.disp = nn.Sequential(nn.Conv2d(1, 32, 7, padding=3), nn.ReLU(inplace=True),
                                  nn.Conv2d(32, 16, 3, padding=1), nn.ReLU(inplace=True))
        self.out = nn.Sequential(nn.Conv2d(64, out - 1, 3, padding=1), nn.ReLU(inplace=True))

    def forward(self, corr: Tensor, disparity: Tensor, zncc: Tensor | None = None) -> Tensor:
        """corr (b, k, h, w), disparity (b, 1, h, w), zncc (b, k, h, w) when configured -> (b, out, h, w)."""
        x = self.corr[0](corr)
        if self.zncc is not None:
            x = x + self.zncc(zncc)
        x = self.corr[1:](x)
        return torch.cat([self.out(torch.cat([x, self.disp(disparity)], dim=1)), disparity], dim=1)


def _pool2(x: Tensor) -> Tensor:
    return F.avg_pool2d(x, 3, stride=2, padding=1)


def _resize_to(x: Tensor, ref: Tensor) -> Tensor:
    return F.interpolate(x, size=ref.shape[-2:], mode='bilinear', align_corners=True)


class MultiScaleUpdate(nn.Module):
    """RAFT-Stereo's multi-level update: GRUs at 1/16, 1/8, 1/4 exchange state; the 1/4 one reads the motion."""

    def __init__(self, cfg: StereoAdapterConfig) -> None:
        super().__init__()
        h4, h8, h16 = cfg.hidden_dims
        corr_channels = cfg.corr_levels * (2 * cfg.corr_radius + 1)
        self.motion = MotionEncoder(corr_channels, h4, corr_channels if cfg.zncc_window else 0)
        self.gru4 = ConvGRU(h4, h4 + h8)
        self.gru8 = ConvGRU(h8, h4 + h16)
        self.gru16 = ConvGRU(h16, h8)
        self.disp_head = nn.Sequential(nn.Conv2d(h4, 64, 3, padding=1), nn.ReLU(inplace=True),
                                       nn.Conv2d(64, 1, 3, padding=1))
        self.mask_head = nn.Sequential(nn.Conv2d(h4, 64, 3, padding=1), nn.ReLU(inplace=True),
                                       nn.Conv2d(64, 9 * DOWNSAMPLE**2, 1))
        self.conf_head = nn.Sequential(nn.Conv2d(h4 + 1, 32, 3, padding=1), nn.ReLU(inplace=True),
                                       nn.Conv2d(32, 1, 1))

    def forward(self, net: list[Tensor], ctx: list[tuple[Tensor, Tensor, Tensor]], corr: Tensor,
                disparity: Tensor, zncc: Tensor | None = None) -> tuple[list[Tensor], Tensor]:
        """One iteration: hidden states [1/4, 1/8, 1/16] -> new states and the disparity update (b, 1, h4, w4).

        corr and zncc are the learned and the fixed pyramid's samples around the current disparity.
        """
        n4, n8, n16 = net
        n16 = self.gru16(n16, ctx[2], _pool2(n8))
        n8 = self.gru8(n8, ctx[1], _pool2(n4), _resize_to(n16, n8))
        n4 = self.gru4(n4, ctx[0], self.motion(corr, disparity, zncc), _resize_to(n8, n4))
        return [n4, n8, n16], self.disp_head(n4)


class StereoAdapter(nn.Module):
    """Rectified stereo pair -> disparity of the left image [input px], with mono prior and confidence."""

    def __init__(self, cfg: StereoAdapterConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or StereoAdapterConfig()
        f = cfg.encoder.feature_dim
        self.encoder = ViTEncoder(cfg.encoder, cfg.lora)
        self.match = nn.Conv2d(f, f, 1)  # matching features for the correlation (1/4)
        self.context = nn.ModuleList(nn.Conv2d(f, 4 * hd, 3, padding=1)
                                     for hd in cfg.hidden_dims)  # -> hidden init + (cz, cr, cq) per level
        self.mono_head = nn.Sequential(conv_block(f, f), nn.Conv2d(f, cfg.mono_bins, 3, padding=1))
        self.register_buffer('mono_bins', torch.linspace(0.0, cfg.max_disparity / DOWNSAMPLE, cfg.mono_bins),
                             persistent=False)
        self.update = MultiScaleUpdate(cfg)
        self.register_buffer('mean', torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer('std', torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255, persistent=False)

    def normalize(self, image: Tensor) -> Tensor:
        """RGB (b, 3, h, w) in [0, 255] -> ImageNet-normalised."""
        return (image - self.mean) / self.std

    def forward(self, left: Tensor, right: Tensor, iterations: int | None = None,
                return_sequence: bool = False) -> dict[str, Tensor | list[Tensor]]:
        """left, right: RGB (b, 3, h, w) float in [0, 255] -> dict of (b, 1, h, w) tensors.

        disparity [input px, >= 0], mono [input px] and confidence [0, 1]; with return_sequence also 'sequence':
        the upsampled estimate after each iteration (index 0 is the mono estimate), for the sequence loss,
        'correlation' (b, h/4, w/4, w/4): the level-0 volume on the padded 1/4 grid, for the matching loss, and
        'start': where refinement started, upsampled (the mono estimate or the best match, per cfg.refine_from).
        """
        if left.shape != right.shape or left.ndim != 4 or left.shape[1] != 3:
            raise ValueError(f'left {tuple(left.shape)} and right {tuple(right.shape)} must both be (b, 3, h, w)')
        iterations = self.cfg.iterations if iterations is None else iterations
        if iterations < 0:
            raise ValueError(f'iterations must be >= 0, got {iterations}')
        b, _, h, w = left.shape
        pad_h, pad_w = (-h) % PAD_MULTIPLE, (-w) % PAD_MULTIPLE
        images = torch.cat([left, right], dim=0)
        if pad_h or pad_w:
            images = F.pad(images, (0, pad_w, 0, pad_h), mode='replicate')
        f4, f8, f16 = self.encoder(self.normalize(images))
        match = self.match(f4)
        corr = CorrPyramid(match[:b], match[b:], self.cfg.corr_levels, self.cfg.corr_radius)
        zncc = None
        if self.cfg.zncc_window:
            desc = zncc_descriptors(images, self.cfg.zncc_window, self.cfg.zncc_sigma)
            zncc = CorrPyramid(desc[:b], desc[b:], self.cfg.corr_levels, self.cfg.corr_radius, scale=1.0)

        net, ctx = [], []
        for feat, head, hd in zip((f4[:b], f8[:b], f16[:b]), self.context, self.cfg.hidden_dims, strict=True):
            c = head(feat)
            net.append(torch.tanh(c[:, :hd]))
            ctx.append(tuple(c[:, hd * (i + 1): hd * (i + 2)] for i in range(3)))

        probs = torch.softmax(self.mono_head(f8[:b]), dim=1)  # b bins h8 w8 (1/8 keeps the head cheap)
        mono = (probs * self.mono_bins.view(1, -1, 1, 1)).sum(dim=1, keepdim=True)  # 1/4-grid px
        mono = F.interpolate(mono, size=f4.shape[-2:], mode='bilinear', align_corners=False)
        sequence = [F.interpolate(mono * DOWNSAMPLE, scale_factor=DOWNSAMPLE, mode='bilinear', align_corners=False)]
        if self.cfg.refine_from == 'matching':
            volumes = [p.volume.view(*p.shape, -1) for p in (corr, zncc) if p is not None]  # b h w(left) w(right)
            disparity = best_match(volumes, self.cfg.max_disparity / DOWNSAMPLE)
            up = F.interpolate(disparity * DOWNSAMPLE, scale_factor=DOWNSAMPLE, mode='bilinear', align_corners=False)
        else:
            disparity, up = mono.detach(), sequence[0]
        start = up
        for i in range(iterations):
            disparity = disparity.detach()
            fixed = zncc(disparity) if zncc is not None else None
            net, delta = self.update(net, ctx, corr(disparity), disparity, fixed)
            disparity = disparity + delta
            if return_sequence or i == iterations - 1:
                up = convex_upsample(disparity, 0.25 * self.update.mask_head(net[0]), DOWNSAMPLE)
                sequence.append(up)
        conf_in = torch.cat([net[0], disparity.detach() / (self.cfg.max_disparity / DOWNSAMPLE)], dim=1)
        confidence = torch.sigmoid(F.interpolate(self.update.conf_head(conf_in), scale_factor=DOWNSAMPLE,
                                                 mode='bilinear', align_corners=False))
        out: dict[str, Tensor | list[Tensor]] = {
            'disparity': up[..., :h, :w].clamp_min(0.0),
            'mono': sequence[0][..., :h, :w],
            'confidence': confidence[..., :h, :w],
        }
        if return_sequence:
            out['sequence'] = [s[..., :h, :w] for s in sequence]
            out['correlation'] = corr.volume.view(b, *corr.shape[1:], -1)  # b h4 w4(left) w4(right), padded grid
            out['start'] = start[..., :h, :w]
        return out

    def lora_layers(self) -> list[DynamicLoRALinear]:
        """Every dynamic-rank LoRA layer of the encoder."""
        return lora_layers(self.encoder)

    def merge_lora(self) -> int:
        """Fold every adapter into its base weight; returns the total active ranks merged."""
        return sum(layer.merge() for layer in self.lora_layers())
