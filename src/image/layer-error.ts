/** A layer the unpacker refuses for what it holds (a path out of the layer, a bad whiteout, a hardlink to nothing…). */
export class LayerError extends Error {}
