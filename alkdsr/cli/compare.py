"""Draw a visual comparison like the paper's Figures 7 and 8.

The HR image with a red box, then that box from HR, bicubic and each checkpoint's output,
captioned with PSNR/SSIM of the whole image (Y channel, border = scale, BasicSR's
calculate_psnr/calculate_ssim on uint8 images: the benchmark's per-image values). The
LR image is --lr if given (HR is then cropped to LR x scale), else HR made smaller with
MATLAB-style bicubic, as the benchmark sets are. The box is --box, else the square of
--box-size pixels with the most detail. Each caption is also printed.

Example:
  alkdsr compare --hr Set5/HR/butterfly.png --lr Set5/LR_bicubic/X4/butterflyx4.png \\
      --weights net_g_BSRN_x4.pth --weights net_g_ALKDN_x4.pth --labels BSRN ALKDNet -o fig7.png
"""

from __future__ import annotations

from pathlib import Path

from alkdsr.cli._options import path_text, weights_or_default
from alkdsr.errors import AlkdsrError
from alkdsr.files.fileio import check_output_file
from alkdsr.files.output_guard import refuse_outputs_that_are_inputs
from alkdsr.utils.devices import parse_device, resolve_device
from alkdsr.utils.packages import require

HELP = 'figure comparing HR, bicubic and checkpoints on a zoomed box, with PSNR/SSIM'


def add_arguments(parser) -> None:
    parser.add_argument('--hr', required=True, type=path_text, help='the HR (ground truth) image')
    parser.add_argument('--lr', help='the LR image (default: bicubic-downscaled HR)')
    parser.add_argument(
        '--weights',
        action='append',
        default=[],
        metavar='FILE|NAME',
        help='a checkpoint or registered name; repeat for several (default: alkdnet-x4)',
    )
    parser.add_argument('--labels', nargs='+', help='one label per --weights (default: the file names)')
    parser.add_argument('--box', nargs=4, type=int, metavar=('X', 'Y', 'W', 'H'), help='box to zoom, in HR pixels')
    parser.add_argument('--box-size', type=int, default=0, help='side of the automatic box (default: 1/4 of HR)')
    parser.add_argument('--title', help='caption under the HR image (default: file name and scale)')
    parser.add_argument('--device', type=parse_device, default='auto', help='auto, cpu, cuda or cuda:N (auto)')
    parser.add_argument('-o', '--output', required=True, type=path_text, help='the PNG file to write')


def run(args) -> int:
    require('alkdsr compare', 'matplotlib')  # the figure is drawn with it
    output = Path(args.output)
    if output.suffix.lower() != '.png':
        raise AlkdsrError(f'-o {output}: the figure is written as PNG; use a .png file name')
    args.weights = args.weights or [weights_or_default(None)]
    check_output_file(output, '-o')
    refuse_outputs_that_are_inputs({'-o': output}, {'--hr': args.hr, '--lr': args.lr, '--weights': args.weights})
    labels = args.labels or [Path(w).stem for w in args.weights]
    if len(labels) != len(args.weights):
        raise AlkdsrError(f'{len(labels)} --labels for {len(args.weights)} --weights')
    from alkdsr.inference.image import load_upscaler
    from alkdsr.metrics.figures import (
        check_box,
        comparison_panels,
        draw_comparison,
        paired_images,
        pick_box,
        save_figure,
    )

    device = resolve_device(args.device)
    models = [load_upscaler(w, device) for w in args.weights]
    scale = models[0].upscale
    for weights, model in zip(args.weights, models):
        if model.upscale != scale:
            raise AlkdsrError(f'{weights} is x{model.upscale} but {args.weights[0]} is x{scale}')
    hr, lr = paired_images(_rgb8(args.hr), _rgb8(args.lr) if args.lr else None, scale, name=args.hr)
    size = args.box_size or min(hr.shape[:2]) // 4
    box = check_box(tuple(args.box), hr.shape) if args.box else pick_box(hr, size, border=scale)
    panels = comparison_panels(hr, lr, list(zip(labels, models)), scale)
    title = args.title or f'{Path(args.hr).stem} (x{scale})'
    save_figure(draw_comparison(panels, box, title), output)
    for panel in panels[1:]:
        print(f'{panel.label}: PSNR {panel.psnr:.3f} dB, SSIM {panel.ssim:.4f}')
    print(f'wrote {output} (box x={box[0]} y={box[1]} w={box[2]} h={box[3]})')
    return 0


def _rgb8(path: str):
    """An image as RGB uint8 (gray replicated, alpha dropped, 16 bits rounded to 8)."""
    from alkdsr.files.images import read_image, to_eight_bit

    pixels = read_image(path).pixels
    if pixels.dtype != 'uint8':
        pixels = to_eight_bit(pixels)
    colour = pixels[..., :3] if pixels.shape[2] >= 3 else pixels[..., :1].repeat(3, axis=2)
    return colour
