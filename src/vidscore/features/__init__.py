"""Video features: cuts, motion, flow, colour, faces, semantic embedding and affect over time."""
