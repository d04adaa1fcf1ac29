"""The four organs (Regen, Balance, Entropy, Optimize): one package and image, VENOM_ORGAN selects the organ."""
