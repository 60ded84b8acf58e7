// The benchmark's picture: for every figure, mlstls's suites relative to node:tls in the same run, as bars, where
// 1.0 is node:tls and longer is better (time and memory rows are inverted so that every bar reads the same way).
// Written by `npm run bench` to test/bench/results/chart.svg, which the README shows.

export interface ChartRow {
  name: string;
  higherIsBetter: boolean;
  figures: Partial<Record<string, { ratio?: number }>>;
}

const SERIES = [
  { id: "1", label: "suite 1 (X25519, AES-128-GCM, Ed25519)", color: "#3b6ea8" },
  { id: "2", label: "suite 2 (P-256, AES-128-GCM)", color: "#d08c2c" },
  { id: "3", label: "suite 3 (X25519, ChaCha20-Poly1305, Ed25519)", color: "#4f9a5a" },
];

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export function chartSvg(rows: readonly ChartRow[], title: string): string {
  const shown = rows.filter((r) => SERIES.some((s) => r.figures[s.id]?.ratio !== undefined));
  const left = 330;
  const plotW = 420;
  const barH = 9;
  const groupH = SERIES.length * barH + 12;
  const top = 58;
  const height = top + shown.length * groupH + 40;
  const max = 2; // the axis ends at 2x node:tls; longer bars are clipped and labelled
  const x = (v: number): number => left + (Math.min(v, max) / max) * plotW;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${left + plotW + 80}" height="${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="10" y="18" font-size="13" font-weight="bold">${esc(title)}</text>`);
  out.push(`<text x="10" y="34" fill="#555">mlstls relative to node:tls in the same run (1.0 = node:tls; longer is better; time and memory inverted)</text>`);
  SERIES.forEach((s, i) => {
    out.push(`<rect x="${left + i * 150}" y="42" width="10" height="8" fill="${s.color}"/>`);
    out.push(`<text x="${left + i * 150 + 14}" y="50" fill="#333">${esc(s.label.split(" (")[0]!)}</text>`);
  });
  shown.forEach((r, gi) => {
    const y0 = top + gi * groupH;
    out.push(`<text x="${left - 8}" y="${y0 + groupH / 2}" text-anchor="end">${esc(r.name)}</text>`);
    SERIES.forEach((s, si) => {
      const ratio = r.figures[s.id]?.ratio;
      if (ratio === undefined || !(ratio > 0)) return;
      const v = r.higherIsBetter ? ratio : 1 / ratio;
      const y = y0 + si * barH + 4;
      out.push(`<rect x="${left}" y="${y}" width="${x(v) - left}" height="${barH - 2}" fill="${s.color}"/>`);
      out.push(`<text x="${x(v) + 3}" y="${y + barH - 3}" fill="#333" font-size="9">${v.toFixed(2)}</text>`);
    });
  });
  const axisY = top + shown.length * groupH + 6;
  for (const t of [0, 0.5, 1, 1.5, 2]) {
    out.push(`<line x1="${x(t)}" y1="${top - 4}" x2="${x(t)}" y2="${axisY}" stroke="${t === 1 ? "#c00" : "#ddd"}" stroke-dasharray="${t === 1 ? "4 3" : "2 3"}"/>`);
    out.push(`<text x="${x(t)}" y="${axisY + 14}" text-anchor="middle" fill="#555">${t}x</text>`);
  }
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}
