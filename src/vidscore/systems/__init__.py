"""The four video-to-music systems on one pipeline (Video2Music, V-MusProd, Diff-BGM, VMAs)."""
