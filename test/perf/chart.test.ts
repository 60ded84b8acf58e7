// The benchmark's SVG chart: every figure reads "longer is better" against node:tls at 1.0.

import { expect } from "chai";
import { chartSvg } from "../bench/chart.js";

describe("bench chart", () => {
  it("draws one bar per suite and figure, inverting time rows so that longer is better", () => {
    const svg = chartSvg(
      [
        { name: "handshake", higherIsBetter: false, figures: { node: {}, "1": { ratio: 2 }, "2": { ratio: 0.5 }, "3": { ratio: 1 } } },
        { name: "bulk <MB/s>", higherIsBetter: true, figures: { "1": { ratio: 0.8 } } },
        { name: "not measured", higherIsBetter: true, figures: { node: {} } },
      ],
      "test",
    );
    expect(svg.startsWith("<svg")).to.equal(true);
    // 2x slower reads as 0.50, 2x faster as 2.00; the bulk row as it is; names are escaped; empty rows are left out.
    for (const label of [">0.50<", ">2.00<", ">1.00<", ">0.80<", "bulk &lt;MB/s&gt;"]) expect(svg).to.contain(label);
    expect(svg).to.not.contain("not measured");
    expect((svg.match(/<rect x="330" y="\d+" width="[\d.]+" height="7"/g) ?? []).length).to.equal(4);
  });
});
