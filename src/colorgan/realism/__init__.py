"""How real a set of colorized photos looks: ImageNet features of photos and distances between
sets of them (KID, Fréchet distance, density and coverage, two-sample test, semantic agreement)."""
