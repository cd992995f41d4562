"""Pictures for run reports, ROS-free: a top-down floor plan with the trajectory, and a stereo panel."""

import cv2
import numpy as np

PALETTE = {  # BGR for drawing the named colours of furniture
    'red': (40, 40, 220), 'green': (60, 170, 60), 'blue': (200, 90, 40), 'yellow': (40, 210, 230),
    'white': (235, 235, 235), 'black': (40, 40, 40), 'brown': (40, 80, 130), 'grey': (150, 150, 150),
    'gray': (150, 150, 150), 'orange': (30, 140, 250), 'purple': (150, 60, 140), 'pink': (190, 150, 250),
}


def floor_plan(scene: dict, trajectory: np.ndarray | None = None, px_per_m: float = 60.0) -> np.ndarray:
    """Top-down BGR image of the house (rooms, walls, object boxes with labels) and an (n, 2) xy trajectory."""
    x0, y0, x1, y1 = _bounds(scene)
    margin = 0.5
    width, height = int((x1 - x0 + 2 * margin) * px_per_m), int((y1 - y0 + 2 * margin) * px_per_m)
    image = np.full((height, width, 3), 255, np.uint8)

    def px(x: float, y: float) -> tuple[int, int]:  # map frame (x right, y up) -> pixel (row down)
        return int((x - x0 + margin) * px_per_m), int((y1 + margin - y) * px_per_m)

    for room in scene['rooms']:
        rx0, ry0, rx1, ry1 = room['bounds']
        cv2.rectangle(image, px(rx0, ry1), px(rx1, ry0), (245, 240, 235), -1)
        cv2.putText(image, room['name'], px(rx0 + 0.15, ry1 - 0.3), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (120, 120, 120), 1,
                    cv2.LINE_AA)
    for wall in scene.get('walls', []):
        thickness = max(2, int(wall.get('thickness', 0.1) * px_per_m))
        cv2.line(image, px(*wall['start']), px(*wall['end']), (60, 60, 60), thickness)
    for obj in scene['objects']:
        cx, cy = obj['center'][:2]
        sx, sy = obj['size'][:2]
        yaw = obj.get('yaw', 0.0)
        corners = np.array([[sx, sy], [-sx, sy], [-sx, -sy], [sx, -sy]]) / 2
        rot = np.array([[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]])
        pts = np.array([px(*(c @ rot.T + (cx, cy))) for c in corners], np.int32)
        colour = PALETTE.get(obj.get('color_name', ''), (120, 120, 120))
        cv2.fillPoly(image, [pts], colour)
        cv2.polylines(image, [pts], True, (30, 30, 30), 1, cv2.LINE_AA)
        cv2.putText(image, obj['label'], px(cx - sx / 2, cy - sy / 2 - 0.15), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                    (20, 20, 20), 1, cv2.LINE_AA)
    if trajectory is not None and len(trajectory):
        pts = np.array([px(x, y) for x, y in trajectory[:, :2]], np.int32)
        cv2.polylines(image, [pts], False, (0, 0, 255), 2, cv2.LINE_AA)
        cv2.circle(image, tuple(pts[0]), 6, (0, 160, 0), -1)
        cv2.circle(image, tuple(pts[-1]), 6, (0, 0, 200), -1)
    cv2.putText(image, '1 m', (10, height - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.line(image, (10, height - 8), (10 + int(px_per_m), height - 8), (0, 0, 0), 2)
    return image


def stereo_panel(left_rgb: np.ndarray, right_rgb: np.ndarray, depth: np.ndarray | None = None,
                 max_depth_m: float = 8.0) -> np.ndarray:
    """Left | right (| depth, turbo-coloured, black = no return) side by side, as one BGR image."""
    tiles = [cv2.cvtColor(left_rgb, cv2.COLOR_RGB2BGR), cv2.cvtColor(right_rgb, cv2.COLOR_RGB2BGR)]
    if depth is not None:
        scaled = np.clip(np.nan_to_num(depth, nan=0.0) / max_depth_m, 0, 1)
        coloured = cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_TURBO)
        coloured[~np.isfinite(depth)] = 0
        tiles.append(coloured)
    return np.concatenate(tiles, axis=1)


def _bounds(scene: dict) -> tuple[float, float, float, float]:
    rooms = np.array([r['bounds'] for r in scene['rooms']])
    return rooms[:, 0].min(), rooms[:, 1].min(), rooms[:, 2].max(), rooms[:, 3].max()
