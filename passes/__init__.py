"""tritium.passes"""
