"""Video2Music: the Affective Multimodal Transformer (AMT) and its biGRU descriptor regressor."""
